import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Direction } from '../../src/net/index.js';
import { TlsConnection, type KeySource, type TlsResult } from '../../src/tls/index.js';
import { parseCertificateList, parseClientHello, parseEncryptedExtensionsAlpn, parseServerHello } from '../../src/tls/handshake.js';
import { seededRandom, type SeededRandom } from '../support/random.js';
import { recordSession, type RecordedSession } from './session.js';

const REASONS = new Set([
  null,
  'no keys for client random',
  'handshake not captured',
  'unsupported cipher suite',
  'decryption failed (wrong keys)',
  'stream incomplete (lost segments)',
  'malformed TLS record',
  'not TLS',
]);

/** Feeds two directions' streams to a TlsConnection in random-sized interleaved chunks. */
function run(streams: Record<Direction, Buffer>, keys: KeySource, random: SeededRandom) {
  const out: Record<Direction, Buffer[]> = { toServer: [], toClient: [] };
  let result: TlsResult | undefined;
  const tls = new TlsConnection(keys, {
    onApplicationData: (direction, data) => out[direction].push(Buffer.from(data)),
    onEnd: (r) => (result = r),
  });
  const at: Record<Direction, number> = { toServer: 0, toClient: 0 };
  // The client's first flight goes first, as on the wire; then both sides in random turns.
  // (A mutation may have cut the stream inside the first record header.)
  const first = streams.toServer.length < 5 ? streams.toServer.length : Math.min(streams.toServer.length, 5 + streams.toServer.readUInt16BE(3));
  tls.onData('toServer', streams.toServer.subarray(0, first), 0n);
  at.toServer = first;
  while (at.toServer < streams.toServer.length || at.toClient < streams.toClient.length) {
    const direction: Direction = at.toClient >= streams.toClient.length || (at.toServer < streams.toServer.length && random() < 0.3) ? 'toServer' : 'toClient';
    const size = 1 + random(3000);
    const chunk = streams[direction].subarray(at[direction], at[direction] + size);
    at[direction] += chunk.length;
    tls.onData(direction, chunk, 0n);
  }
  tls.onEnd('fin', 0n);
  return { result: result!, toServer: Buffer.concat(out.toServer), toClient: Buffer.concat(out.toClient) };
}

function streamsOf(session: RecordedSession): Record<Direction, Buffer> {
  const pick = (d: Direction) => Buffer.concat(session.chunks.filter((c) => c.direction === d).map((c) => c.bytes));
  return { toServer: pick('toServer'), toClient: pick('toClient') };
}

const sessions = new Map<string, Promise<RecordedSession>>();
const session = (version: 'TLSv1.2' | 'TLSv1.3', ciphers?: string): Promise<RecordedSession> => {
  const key = `${version} ${ciphers}`;
  if (!sessions.has(key)) sessions.set(key, recordSession({ version, ciphers }));
  return sessions.get(key)!;
};

for (const [version, ciphers] of [
  ['TLSv1.3', undefined],
  ['TLSv1.2', 'ECDHE-ECDSA-AES128-GCM-SHA256'],
  ['TLSv1.2', 'ECDHE-ECDSA-AES256-SHA384'], // CBC with encrypt-then-MAC (RFC 7366), which OpenSSL peers negotiate
] as const) {
  test(`Node ${version} ${ciphers ?? ''} session through a relay decrypts, whatever the chunking`, async () => {
    const s = await session(version, ciphers);
    const streams = streamsOf(s);
    for (let seed = 1; seed <= 20; seed++) {
      const { result, toServer, toClient } = run(streams, s.keys, seededRandom(seed));
      assert.equal(result.reason, null);
      assert.ok(toServer.equals(s.request) && toClient.equals(s.response), `seed ${seed}`);
      assert.equal(result.handshake.clientCertificate?.commonName, 'system:node:test-node');
      assert.equal(result.handshake.sni, 'localhost');
      assert.deepEqual(result.handshake.alpnOffered, ['http/1.1']);
    }
  });
}

test('the server\'s bytes captured before the client\'s (directions reordered) still decrypt', async () => {
  for (const s of [await session('TLSv1.3'), await session('TLSv1.2', 'ECDHE-ECDSA-AES128-GCM-SHA256')]) {
    const streams = streamsOf(s);
    const out: Record<Direction, Buffer[]> = { toServer: [], toClient: [] };
    let result: TlsResult | undefined;
    const tls = new TlsConnection(s.keys, { onApplicationData: (d, data) => out[d].push(Buffer.from(data)), onEnd: (r) => (result = r) });
    tls.onData('toClient', streams.toClient, 0n);
    tls.onData('toServer', streams.toServer, 0n);
    tls.onEnd('fin', 0n);
    assert.equal(result!.reason, null);
    assert.ok(Buffer.concat(out.toServer).equals(s.request) && Buffer.concat(out.toClient).equals(s.response));
  }
});

/** Byte flips, insertions, deletions and truncation. */
function mutate(input: Buffer, random: SeededRandom): Buffer {
  let bytes = Buffer.from(input);
  const edits = 1 + random(4);
  for (let i = 0; i < edits && bytes.length > 0; i++) {
    const at = random(bytes.length);
    const kind = random();
    if (kind < 0.5) bytes[at] = random(256);
    else if (kind < 0.7) bytes = Buffer.concat([bytes.subarray(0, at), Buffer.of(random(256)), bytes.subarray(at)]);
    else if (kind < 0.9) bytes = Buffer.concat([bytes.subarray(0, at), bytes.subarray(at + 1 + random(8))]);
    else bytes = bytes.subarray(0, at);
  }
  return bytes;
}

test('seeded fuzz: mutated TLS 1.3 and 1.2 streams never throw and always end with a known reason', async () => {
  for (const s of [await session('TLSv1.3'), await session('TLSv1.2', 'ECDHE-ECDSA-AES128-GCM-SHA256')]) {
    const streams = streamsOf(s);
    const random = seededRandom(0x5eed);
    for (let i = 0; i < 300; i++) {
      const damaged = random() < 0.5 ? 'toServer' : 'toClient';
      const mutated = { ...streams, [damaged]: mutate(streams[damaged], random) };
      const { result } = run(mutated, s.keys, random);
      assert.ok(REASONS.has(result.reason), `iteration ${i}: ${result.reason}`);
    }
  }
});

test('seeded fuzz: handshake parsers return null or a value on mangled real messages, never throw', async () => {
  const s = await session('TLSv1.2', 'ECDHE-ECDSA-AES128-GCM-SHA256');
  const streams = streamsOf(s);
  // TLS 1.2 sends its ClientHello, ServerHello and both Certificate messages in the clear.
  const messages = (stream: Buffer): Buffer[] => {
    const out: Buffer[] = [];
    let handshake = Buffer.alloc(0);
    for (let at = 0; at + 5 <= stream.length && stream[at] !== 20; at += 5 + stream.readUInt16BE(at + 3)) {
      if (stream[at] === 22) handshake = Buffer.concat([handshake, stream.subarray(at + 5, at + 5 + stream.readUInt16BE(at + 3))]);
    }
    for (let at = 0; at + 4 <= handshake.length; at += 4 + handshake.readUIntBE(at + 1, 3)) {
      out.push(handshake.subarray(at, at + 4 + handshake.readUIntBE(at + 1, 3)));
    }
    return out;
  };
  const all = [...messages(streams.toServer), ...messages(streams.toClient)];
  const clientHello = all.find((m) => m[0] === 1)!.subarray(4);
  const serverHello = all.find((m) => m[0] === 2)!.subarray(4);
  const certificate = all.find((m) => m[0] === 11)!.subarray(4);
  assert.ok(parseClientHello(clientHello)?.sni === 'localhost');
  assert.ok(parseServerHello(serverHello)?.cipherSuite === 0xc02b);
  assert.ok((parseCertificateList(certificate, false)?.length ?? 0) >= 1);
  const random = seededRandom(42);
  for (let i = 0; i < 2000; i++) {
    parseClientHello(mutate(clientHello, random));
    parseServerHello(mutate(serverHello, random));
    parseCertificateList(mutate(certificate, random), random() < 0.5);
    parseEncryptedExtensionsAlpn(mutate(clientHello.subarray(0, 60), random));
  }
});

test('bytes that are no TLS record read "not TLS", from either side', () => {
  for (const [direction, bytes] of [
    ['toServer', 'GET / HTTP/1.1\r\n'],
    ['toClient', 'SSH-2.0-OpenSSH_9.2\r\n'],
  ] as const) {
    let result: TlsResult | undefined;
    const tls = new TlsConnection({ get: () => undefined }, { onApplicationData: () => undefined, onEnd: (r) => (result = r) });
    tls.onData(direction, Buffer.from(bytes), 0n);
    tls.onEnd('fin', 0n);
    assert.equal(result!.reason, 'not TLS', direction);
  }
});

test('TLS 1.2 with a suite we cannot decrypt (AES-CCM): the reason, and the certificates sent in the clear', async () => {
  const s = await session('TLSv1.2', 'ECDHE-ECDSA-AES128-CCM');
  const { result, toServer, toClient } = run(streamsOf(s), s.keys, seededRandom(3));
  assert.equal(result.reason, 'unsupported cipher suite');
  assert.equal(result.decrypted, false);
  assert.equal(toServer.length + toClient.length, 0);
  assert.equal(result.handshake.cipherSuite, '0xc0ac');
  assert.equal(result.handshake.clientCertificate?.commonName, 'system:node:test-node');
  assert.equal(result.handshake.serverCertificates[0]?.commonName, 'localhost');
});

test('TLS 1.2 without keys: the reason, and both certificates read from the clear handshake', async () => {
  const s = await session('TLSv1.2', 'ECDHE-ECDSA-AES128-GCM-SHA256');
  for (let seed = 1; seed <= 10; seed++) {
    const { result } = run(streamsOf(s), { get: () => undefined }, seededRandom(seed));
    assert.equal(result.reason, 'no keys for client random');
    assert.equal(result.handshake.clientCertificate?.commonName, 'system:node:test-node', `seed ${seed}`);
    assert.equal(result.handshake.serverCertificates[0]?.commonName, 'localhost');
  }
});
