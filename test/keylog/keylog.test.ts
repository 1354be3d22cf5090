import assert from 'node:assert/strict';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { test } from 'node:test';
import { KeyLog, formatKeyLogLine, parseKeyLog, readKeyLogFiles, validateKeyEvent } from '../../src/keylog/index.js';
import { GokeylogError } from '../../src/util/errors.js';
import { isRoot } from '../support/env.js';
import { testPki } from '../support/pki.js';
import { seededRandom } from '../support/random.js';

/** Key log lines as OpenSSL (through Node's `keylog` event) writes them for one real connection. */
async function realKeyLogLines(maxVersion: tls.SecureVersion, cipher?: string): Promise<string[]> {
  const lines: string[] = [];
  const pki = await testPki();
  const [key, cert] = await Promise.all([readFile(pki.serverKey), readFile(pki.serverCert)]);
  const server = https.createServer({ key, cert, maxVersion }, (_req, res) => res.end('ok'));
  server.on('keylog', (line: Buffer) => lines.push(line.toString('latin1').trimEnd()));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const port = (server.address() as { port: number }).port;
    await new Promise<void>((resolve, reject) => {
      https
        .get({ host: '127.0.0.1', port, rejectUnauthorized: false, maxVersion, ...(cipher ? { ciphers: cipher } : {}), agent: false }, (res) => {
          res.resume();
          res.on('end', resolve);
        })
        .on('error', reject);
    });
  } finally {
    await new Promise((resolve) => server.close(resolve));
  }
  return lines;
}

test('real TLS 1.3 and 1.2 key logs parse and format back to the same lines', async () => {
  const tls13 = await realKeyLogLines('TLSv1.3');
  const tls13sha384 = await realKeyLogLines('TLSv1.3', 'TLS_AES_256_GCM_SHA384');
  const tls12 = await realKeyLogLines('TLSv1.2');
  for (const lines of [tls13, tls13sha384, tls12]) {
    assert.ok(lines.length > 0);
    const { entries, errors } = parseKeyLog(lines.join('\r\n'));
    assert.deepEqual(errors, []);
    assert.deepEqual(entries.map(formatKeyLogLine), lines);
    for (const e of entries) assert.equal(validateKeyEvent(e.label, e.clientRandom, e.secret), null);
  }
  assert.ok(tls12.every((l) => l.startsWith('CLIENT_RANDOM ')));
  assert.ok(tls13.some((l) => l.startsWith('CLIENT_HANDSHAKE_TRAFFIC_SECRET ')));
  assert.ok(parseKeyLog(tls13sha384.join('\n')).entries.every((e) => e.secret.length === 48));
});

test('comments, blank lines, CRLF and unknown labels', () => {
  const r = 'ab'.repeat(32);
  const text = `# a comment\r\n\r\n   \nCLIENT_RANDOM ${r.toUpperCase()} ${'cd'.repeat(48)}\r\nECH_SECRET ${r} ${'ef'.repeat(32)}\n`;
  const { entries, errors } = parseKeyLog(text);
  assert.deepEqual(errors, []);
  assert.deepEqual(entries.map(formatKeyLogLine), [`CLIENT_RANDOM ${r} ${'cd'.repeat(48)}`, `ECH_SECRET ${r} ${'ef'.repeat(32)}`]);
});

test('bad lines are reported with their line number and do not stop parsing', () => {
  const r = '01'.repeat(32);
  const good = `CLIENT_TRAFFIC_SECRET_0 ${r} ${'02'.repeat(32)}`;
  const text = [
    `CLIENT_RANDOM ${r}`, // 1: two fields
    `CLIENT_RANDOM ${r} ${'zz'.repeat(48)}`, // 2: bad hex
    `CLIENT_RANDOM ${r} ${'02'.repeat(32)}`, // 3: master secret must be 48
    `CLIENT_TRAFFIC_SECRET_0 ${'01'.repeat(31)} ${'02'.repeat(32)}`, // 4: short random
    `CLIENT_TRAFFIC_SECRET_0 ${r} ${'02'.repeat(40)}`, // 5: not a hash length
    `CLIENT_TRAFFIC_SECRET_0 ${r}0 ${'02'.repeat(32)}`, // 6: odd hex
    good, // 7
    `lowercase ${r} ${'02'.repeat(32)}`, // 8: not a label
  ].join('\n');
  const { entries, errors } = parseKeyLog(text);
  assert.deepEqual(errors.map((e) => e.line), [1, 2, 3, 4, 5, 6, 8]);
  for (const e of errors) assert.match(e.message, /\S/);
  assert.deepEqual(entries.map(formatKeyLogLine), [good]);
});

test('validateKeyEvent says why', () => {
  const r = new Uint8Array(32);
  assert.match(validateKeyEvent('BOGUS', r, new Uint8Array(32))!, /unknown label/);
  assert.match(validateKeyEvent('CLIENT_RANDOM', new Uint8Array(31), new Uint8Array(48))!, /random is 31 bytes/);
  assert.match(validateKeyEvent('CLIENT_RANDOM', r, new Uint8Array(32))!, /48/);
  assert.match(validateKeyEvent('SERVER_HANDSHAKE_TRAFFIC_SECRET', r, new Uint8Array(47))!, /32 or 48/);
  assert.equal(validateKeyEvent('SERVER_HANDSHAKE_TRAFFIC_SECRET', r, new Uint8Array(48)), null);
  assert.equal(validateKeyEvent('CLIENT_RANDOM', r, new Uint8Array(48)), null);
});

test('KeyLog dedups by client random + label and looks secrets up', () => {
  const log = new KeyLog();
  const random = new Uint8Array(32).fill(7);
  const secretA = new Uint8Array(32).fill(1);
  assert.equal(log.add({ label: 'CLIENT_TRAFFIC_SECRET_0', clientRandom: random, secret: secretA }), true);
  assert.equal(log.add({ label: 'CLIENT_TRAFFIC_SECRET_0', clientRandom: random.slice(), secret: new Uint8Array(32).fill(2) }), false);
  assert.equal(log.add({ label: 'SERVER_TRAFFIC_SECRET_0', clientRandom: random, secret: secretA }), true);
  assert.equal(log.size, 2);
  assert.deepEqual(log.get(new Uint8Array(32).fill(7), 'CLIENT_TRAFFIC_SECRET_0'), secretA);
  assert.equal(log.get(new Uint8Array(32).fill(8), 'CLIENT_TRAFFIC_SECRET_0'), undefined);
  assert.equal(log.toText(), `CLIENT_TRAFFIC_SECRET_0 ${'07'.repeat(32)} ${'01'.repeat(32)}\nSERVER_TRAFFIC_SECRET_0 ${'07'.repeat(32)} ${'01'.repeat(32)}\n`);
  assert.deepEqual([...log.entries()].map((e) => e.label), ['CLIENT_TRAFFIC_SECRET_0', 'SERVER_TRAFFIC_SECRET_0']);
});

test('readKeyLogFiles merges files and fails clearly on unreadable or foreign files', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'gokeylog-keylog-'));
  try {
    const lines = await realKeyLogLines('TLSv1.3');
    const a = path.join(dir, 'a.log');
    const b = path.join(dir, 'b.log');
    await writeFile(a, `${lines.join('\n')}\nbroken line\n`);
    await writeFile(b, `${lines.slice(1).join('\n')}\n${lines[0]}\n`);
    const warnings: string[] = [];
    const merged = await readKeyLogFiles([a, b], { onWarning: (w) => warnings.push(w) });
    assert.equal(merged.size, lines.length);
    assert.deepEqual(warnings, [`${a}:${lines.length + 1}: expected "LABEL CLIENT_RANDOM SECRET", found 2 fields, line skipped`]);

    await assert.rejects(readKeyLogFiles([path.join(dir, 'missing.log')]), (e: unknown) => e instanceof GokeylogError && /cannot read key log .*missing\.log: no such file/.test(e.message));
    await assert.rejects(readKeyLogFiles([dir]), (e: unknown) => e instanceof GokeylogError && /directory/.test(e.message));
    const png = path.join(dir, 'x.bin');
    await writeFile(png, Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13]));
    await assert.rejects(readKeyLogFiles([png]), (e: unknown) => e instanceof GokeylogError && /is not an NSS key log \(line 1:/.test(e.message));
    if (!isRoot()) {
      await chmod(b, 0);
      await assert.rejects(readKeyLogFiles([b]), /permission denied/);
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('fuzz: mutated key logs never throw', async () => {
  const base = Buffer.from((await realKeyLogLines('TLSv1.3')).join('\n'));
  const rand = seededRandom(0x9e3779b9);
  for (let i = 0; i < 2000; i++) {
    const m = Buffer.from(base.subarray(0, rand(base.length + 1)));
    for (let k = rand(8); k > 0; k--) m[rand(m.length || 1)] = rand(256);
    const { entries, errors } = parseKeyLog(m.toString('latin1'));
    for (const e of entries) assert.equal(e.clientRandom.length, 32);
    for (const e of errors) assert.ok(e.line >= 1);
  }
});
