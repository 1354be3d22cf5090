/**
 * Records opened in batches (src/tls/batchOpen.ts) against OpenSSL's own AES-GCM: records sealed one by one
 * with node:crypto as TLS 1.3 seals them (RFC 8446 §5.2: nonce = iv XOR seq, AAD = the record header, inner
 * content type and zero padding) must open to what was sealed, and a record whose bytes or tag were changed
 * must make the batch open nothing, so that it fails at its turn exactly as one by one.
 */
import assert from 'node:assert/strict';
import { createCipheriv, randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { Tls13Decryptor } from '../../src/tls/protection.js';
import { RecordSplitter } from '../../src/tls/records.js';
import { seededRandom } from '../support/random.js';

interface Sealed {
  record: Buffer;
  content: Buffer;
}

/** One TLS 1.3 application-data record sealed by OpenSSL (node:crypto), with `padding` zero bytes. */
function seal(cipher: 'aes-128-gcm' | 'aes-256-gcm', key: Buffer, iv: Buffer, seq: number, content: Buffer, padding = 0): Sealed {
  const nonce = Buffer.from(iv);
  nonce.writeUInt32BE((nonce.readUInt32BE(8) ^ seq) >>> 0, 8);
  const inner = Buffer.concat([content, Buffer.of(23), Buffer.alloc(padding)]);
  const header = Buffer.of(23, 3, 3, (inner.length + 16) >> 8, (inner.length + 16) & 0xff);
  const gcm = createCipheriv(cipher, key, nonce);
  gcm.setAAD(header);
  const body = Buffer.concat([gcm.update(inner), gcm.final(), gcm.getAuthTag()]);
  return { record: Buffer.concat([header, body]), content };
}

/** Sizes like Go's HTTP/2 sends: mostly small records, some full ones (which are opened one by one). */
function sealMany(cipher: 'aes-128-gcm' | 'aes-256-gcm', key: Buffer, iv: Buffer, count: number, seed: number): Sealed[] {
  const random = seededRandom(seed);
  return Array.from({ length: count }, (_, seq) => {
    const size = random(5) === 0 ? 16000 + random(384) : 1 + random(2100);
    return seal(cipher, key, iv, seq, randomBytes(size), random(3) === 0 ? random(40) : 0);
  });
}

/** Opens every record in order with `decryptor`, after batching them all first when `batched`. */
function openAll(decryptor: Tls13Decryptor, records: Buffer[], batched: boolean): (Buffer | null)[] {
  if (batched) {
    const batch = decryptor.batch()!;
    for (const r of records) batch.add(r, 0, r.length - 5);
    batch.done();
  }
  return records.map((r) => {
    const opened = decryptor.open(23, 0x0303, r.subarray(0, 5), r.subarray(5));
    assert.ok(opened === null || opened.type === 23);
    return opened ? Buffer.from(opened.plaintext) : null;
  });
}

for (const cipher of ['aes-128-gcm', 'aes-256-gcm'] as const) {
  test(`${cipher}: records opened in a batch are what OpenSSL sealed, sizes and padding as Go sends them`, () => {
    const key = randomBytes(cipher === 'aes-128-gcm' ? 16 : 32);
    const iv = randomBytes(12);
    const sealed = sealMany(cipher, key, iv, 60, 1);
    const opened = openAll(new Tls13Decryptor(cipher, key, iv), sealed.map((s) => s.record), true);
    assert.deepEqual(opened, sealed.map((s) => s.content));
  });
}

test('a changed ciphertext byte or tag byte anywhere in a batch opens nothing ahead: that record fails at its turn, as one by one', () => {
  const key = randomBytes(16);
  const iv = randomBytes(12);
  const random = seededRandom(7);
  for (let round = 0; round < 40; round++) {
    const sealed = sealMany('aes-128-gcm', key, iv, 12, 100 + round);
    const records = sealed.map((s) => Buffer.from(s.record));
    const victim = random(records.length);
    const r = records[victim]!;
    const at = random(2) === 0 ? r.length - 1 - random(16) : 5 + random(r.length - 21); // the tag, or the ciphertext
    r[at]! ^= 1 << random(8);
    const oneByOne = openAll(new Tls13Decryptor('aes-128-gcm', key, iv), records, false);
    const batched = openAll(new Tls13Decryptor('aes-128-gcm', key, iv), records, true);
    assert.equal(oneByOne[victim], null, 'OpenSSL refuses the changed record');
    assert.deepEqual(batched, oneByOne, `round ${round}: byte ${at} of record ${victim}`);
  }
});

test('a record that differs at its turn from the one batched (same length) is opened at its turn, and refused when it does not verify', () => {
  const key = randomBytes(16);
  const iv = randomBytes(12);
  const sealed = sealMany('aes-128-gcm', key, iv, 8, 3).map((s) => s.record);
  const decryptor = new Tls13Decryptor('aes-128-gcm', key, iv);
  const batch = decryptor.batch()!;
  for (const r of sealed) batch.add(r, 0, r.length - 5);
  batch.done();
  const other = Buffer.from(sealed[0]!);
  other[other.length - 1]! ^= 0x80;
  assert.equal(decryptor.open(23, 0x0303, other.subarray(0, 5), other.subarray(5)), null);
});

test('looking ahead cuts the records the splitter cuts, from wherever the splitter stands, over any chunking', () => {
  const random = seededRandom(11);
  const key = randomBytes(16);
  const iv = randomBytes(12);
  const stream = Buffer.concat(sealMany('aes-128-gcm', key, iv, 40, 5).map((s) => s.record));
  for (let round = 0; round < 50; round++) {
    const chunks: Buffer[] = [];
    for (let at = 0; at < stream.length; ) {
      const n = Math.min(stream.length - at, 1 + random(random(4) === 0 ? 20000 : 1500));
      chunks.push(stream.subarray(at, at + n));
      at += n;
    }
    // The splitter has taken the first chunks; the scanner must go on from there.
    const split = random(chunks.length);
    const splitter = new RecordSplitter();
    const seen: string[] = [];
    for (const c of chunks.slice(0, split)) splitter.push(c, () => true);
    const scanner = splitter.scanAhead(2064);
    for (const c of chunks.slice(split)) {
      scanner.push(c, (record, at, bodyLength) => {
        seen.push(`${bodyLength}:${bodyLength <= 2064 ? Buffer.from(record.subarray(at, at + 5 + bodyLength)).toString('hex') : Buffer.from(record.subarray(at, at + 5)).toString('hex')}`);
        return true;
      });
    }
    const expected: string[] = [];
    for (const c of chunks.slice(split)) {
      splitter.push(c, (r) => {
        expected.push(`${r.body.length}:${r.body.length <= 2064 ? Buffer.concat([r.header, r.body]).toString('hex') : Buffer.from(r.header).toString('hex')}`);
        return true;
      });
    }
    assert.deepEqual(seen, expected, `round ${round}`);
  }
});
