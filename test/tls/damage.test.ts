import assert from 'node:assert/strict';
import { once } from 'node:events';
import { test, type TestContext } from 'node:test';
import type { KeySource } from '../../src/tls/index.js';
import { Tls12AeadDecryptor } from '../../src/tls/protection.js';
import { isRoot, requireOrSkip } from '../support/env.js';
import { runTraffic } from '../support/traffic.js';
import { resegment, shiftSequence, tcpFrames, withPayload, type TcpFrame } from './frames.js';
import { captureTcpExchange, completeCapture, decryptFrames, loadKeyLog, newestFixturePair, readFrames, type DecodedConnection } from './pipeline.js';

/** One real TLS 1.3 capture (3 connections, large responses), cut into 1000-byte segments like a real path. */
interface Baseline {
  frames: TcpFrame[];
  keys: KeySource;
  decoded: DecodedConnection[];
  /** Client port of connection id 1, 2, 3. */
  clientPort: number[];
}

let baseline: Promise<Baseline> | undefined;

async function capture(): Promise<Baseline> {
  const pair = newestFixturePair()!;
  const traffic = await completeCapture(() =>
    runTraffic({
      server: pair.server,
      client: pair.client,
      tls: '1.3',
      clientCert: true,
      capture: true,
      requests: 6,
      conns: 3,
      paths: ['/api/v1/namespaces/default/pods?limit=120', '/healthz'],
    }),
  );
  const frames = resegment(tcpFrames(await readFrames(traffic.pcap!)), 1000);
  const keys = loadKeyLog(traffic.serverKeyLog);
  const decoded = decryptFrames(frames, keys);
  return { frames, keys, decoded, clientPort: decoded.map((c) => c.info.client.port) };
}

async function setUp(t: TestContext): Promise<Baseline | null> {
  if (!requireOrSkip(t, isRoot(), 'capturing on lo needs root')) return null;
  if (!requireOrSkip(t, newestFixturePair() !== null, 'Go fixtures not built (npm run setup)')) return null;
  baseline ??= capture();
  return baseline;
}

/** Data frames one side of a connection sent, as indexes into `frames`. */
function dataFrames(frames: TcpFrame[], fromPort: number): number[] {
  const out: number[] = [];
  frames.forEach((f, i) => {
    if (f.segment.src.port === fromPort && f.segment.payload.length > 0) out.push(i);
  });
  return out;
}

function serverPort(b: Baseline): number {
  return b.decoded[0]!.info.server.port;
}

/** Every connection except `damaged` decodes exactly as in the baseline. */
function assertOthersIntact(b: Baseline, decoded: DecodedConnection[], damaged: number | null): void {
  assert.equal(decoded.length, b.decoded.length);
  for (const [i, c] of decoded.entries()) {
    if (involves(c, damaged)) continue;
    const want = b.decoded.find((x) => x.info.client.port === c.info.client.port)!;
    assert.equal(c.result.reason, null, `connection from port ${c.info.client.port} (#${i + 1}): ${c.result.reason}`);
    assert.ok(c.toServer.equals(want.toServer) && c.toClient.equals(want.toClient), `connection #${i + 1} bytes changed`);
  }
}

/**
 * Whether a connection is the one from `clientPort`, whatever roles it got: seen from the middle between
 * two ephemeral ports (as in these captures), the client cannot be told from the server.
 */
function involves(c: DecodedConnection, clientPort: number | null): boolean {
  return c.info.client.port === clientPort || c.info.server.port === clientPort;
}

function only(decoded: DecodedConnection[], clientPort: number): DecodedConnection {
  const c = decoded.find((x) => involves(x, clientPort));
  assert.ok(c, `connection from port ${clientPort} is listed`);
  return c;
}

test('baseline: the resegmented capture decodes completely (the same bytes as unsegmented)', async (t) => {
  const b = await setUp(t);
  if (!b) return;
  assert.equal(b.decoded.length, 3);
  assertOthersIntact(b, b.decoded, null);
  for (const c of b.decoded) {
    assert.equal(c.result.handshake.clientCertificate?.commonName, 'system:node:test-node');
    assert.ok(c.toClient.length > 20_000, 'large responses span many segments');
  }
  assert.ok(b.frames.filter((f) => f.segment.payload.length === 1000).length > 50);
});

test('duplicated segments (retransmissions) change nothing', async (t) => {
  const b = await setUp(t);
  if (!b) return;
  const frames = b.frames.flatMap((f, i) => (f.segment.payload.length > 0 && i % 3 === 0 ? [f, f] : [f]));
  assertOthersIntact(b, decryptFrames(frames, b.keys), null);
});

test('reordered segments are put back in order', async (t) => {
  const b = await setUp(t);
  if (!b) return;
  const frames = [...b.frames];
  const indexes = dataFrames(frames, serverPort(b)).filter((i) => frames[i]!.segment.dst.port === b.clientPort[1]);
  for (let k = 0; k + 1 < indexes.length; k += 2) {
    const [x, y] = [indexes[k]!, indexes[k + 1]!];
    [frames[x], frames[y]] = [frames[y]!, frames[x]!];
  }
  assertOthersIntact(b, decryptFrames(frames, b.keys), null);
});

test('overlapping retransmissions are trimmed', async (t) => {
  const b = await setUp(t);
  if (!b) return;
  const frames = b.frames.flatMap((f) => {
    const p = f.segment.payload;
    if (p.length !== 1000) return [f];
    // The same 1000 bytes sent as [0, 700) and then [300, 1000).
    return [withPayload(f, f.segment.seq, p.subarray(0, 700), false), withPayload(f, f.segment.seq + 300, p.subarray(300), true)];
  });
  assertOthersIntact(b, decryptFrames(frames, b.keys), null);
});

test('sequence numbers wrapping past 2^32 in both directions', async (t) => {
  const b = await setUp(t);
  if (!b) return;
  const port = b.clientPort[0]!;
  const syn = (from: number) => b.frames.find((f) => f.segment.src.port === from && f.segment.flags & 0x02)!.segment.seq;
  // Put each side's initial sequence number 5000 bytes before the wrap.
  let frames = shiftSequence(b.frames, port, 2 ** 32 - 5000 - syn(port));
  frames = shiftSequence(frames, serverPort(b), 2 ** 32 - 5000 - syn(serverPort(b)));
  const serverFrames = frames.filter((f) => f.segment.src.port === serverPort(b) && f.segment.dst.port === port);
  assert.ok(serverFrames.some((f) => f.segment.seq < 100_000) && serverFrames.some((f) => f.segment.seq > 2 ** 32 - 6000));
  assertOthersIntact(b, decryptFrames(frames, b.keys), null);
});

test('a lost segment: that connection is incomplete at the gap, the others decode', async (t) => {
  const b = await setUp(t);
  if (!b) return;
  const port = b.clientPort[1]!;
  const indexes = dataFrames(b.frames, serverPort(b)).filter((i) => b.frames[i]!.segment.dst.port === port);
  const dropped = indexes[Math.floor(indexes.length / 2)]!;
  const decoded = decryptFrames(b.frames.filter((_, i) => i !== dropped), b.keys);
  assertOthersIntact(b, decoded, port);
  const c = only(decoded, port);
  const want = only(b.decoded, port);
  assert.equal(c.result.reason, 'stream incomplete (lost segments)');
  assert.equal(c.result.decrypted, true);
  assert.ok(c.toServer.equals(want.toServer), 'the other direction is unaffected');
  assert.ok(c.toClient.length < want.toClient.length && want.toClient.subarray(0, c.toClient.length).equals(c.toClient), 'a prefix, never joined across the hole');
});

test('a segment cut by the snap length counts as lost bytes', async (t) => {
  const b = await setUp(t);
  if (!b) return;
  const port = b.clientPort[2]!;
  const indexes = dataFrames(b.frames, serverPort(b)).filter((i) => b.frames[i]!.segment.dst.port === port);
  const cut = indexes[Math.floor(indexes.length / 2)]!;
  const frames = b.frames.map((f, i) => (i === cut ? { ...f, data: f.data.subarray(0, f.data.length - 100) } : f));
  const decoded = decryptFrames(frames, b.keys);
  assertOthersIntact(b, decoded, port);
  assert.equal(only(decoded, port).result.reason, 'stream incomplete (lost segments)');
});

test('a connection that started before the capture: handshake not captured', async (t) => {
  const b = await setUp(t);
  if (!b) return;
  const port = b.clientPort[0]!;
  // Drop everything of that connection up to and including the server's first flight (ServerHello…Finished).
  const serverFirst = b.frames.findIndex((f) => f.segment.src.port === serverPort(b) && f.segment.dst.port === port && f.segment.payload.length > 0);
  const flightEnd = b.frames.findIndex((f, i) => i > serverFirst && f.segment.dst.port === serverPort(b) && f.segment.src.port === port);
  const frames = b.frames.filter((f, i) => i >= flightEnd || (f.segment.src.port !== port && f.segment.dst.port !== port));
  const decoded = decryptFrames(frames, b.keys);
  assertOthersIntact(b, decoded, port);
  const c = only(decoded, port);
  assert.equal(c.info.synSeen, false);
  assert.equal(c.result.reason, 'handshake not captured');
  assert.equal(c.result.decrypted, false);
});

test('wrong keys: decryption failed for that connection only', async (t) => {
  const b = await setUp(t);
  if (!b) return;
  const victim = b.decoded[0]!.result.handshake.clientRandom!;
  const keys: KeySource = {
    get(clientRandom, label) {
      const secret = b.keys.get(clientRandom, label);
      if (!secret || Buffer.from(clientRandom).toString('hex') !== victim) return secret;
      const flipped = Uint8Array.from(secret);
      flipped[0]! ^= 0x01;
      return flipped;
    },
  };
  const decoded = decryptFrames(b.frames, keys);
  assertOthersIntact(b, decoded, b.clientPort[0]!);
  assert.equal(only(decoded, b.clientPort[0]!).result.reason, 'decryption failed (wrong keys)');
  assert.equal(only(decoded, b.clientPort[0]!).result.decrypted, false);
});

test('missing keys: no keys for client random, handshake in the clear still read', async (t) => {
  const b = await setUp(t);
  if (!b) return;
  const victim = b.decoded[1]!.result.handshake.clientRandom!;
  const keys: KeySource = {
    get: (clientRandom, label) => (Buffer.from(clientRandom).toString('hex') === victim ? undefined : b.keys.get(clientRandom, label)),
  };
  const decoded = decryptFrames(b.frames, keys);
  assertOthersIntact(b, decoded, b.clientPort[1]!);
  const c = only(decoded, b.clientPort[1]!);
  assert.equal(c.result.reason, 'no keys for client random');
  assert.equal(c.result.handshake.version, 'TLS 1.3');
  assert.equal(c.result.handshake.clientRandom, victim);
});

/** Stream offset → frame index for one direction, and the record boundaries found in that stream. */
function recordsOf(frames: TcpFrame[], from: number, to: number): { bodyStarts: number[]; frameAt: (offset: number) => [number, number] } {
  const pieces: { index: number; start: number; length: number }[] = [];
  let stream = Buffer.alloc(0);
  frames.forEach((f, index) => {
    if (f.segment.src.port !== from || f.segment.dst.port !== to || f.segment.payload.length === 0) return;
    pieces.push({ index, start: stream.length, length: f.segment.payload.length });
    stream = Buffer.concat([stream, f.segment.payload]);
  });
  const bodyStarts: number[] = [];
  for (let at = 0; at + 5 <= stream.length; at += 5 + stream.readUInt16BE(at + 3)) bodyStarts.push(at + 5);
  const frameAt = (offset: number): [number, number] => {
    const p = pieces.find((x) => offset >= x.start && offset < x.start + x.length)!;
    return [p.index, offset - p.start];
  };
  return { bodyStarts, frameAt };
}

function corrupt(frames: TcpFrame[], index: number, at: number, value: (old: number) => number): TcpFrame[] {
  return frames.map((f, i) => {
    if (i !== index) return f;
    const data = Uint8Array.from(f.data);
    data[f.payloadAt + at] = value(data[f.payloadAt + at]!);
    return { ...f, data, segment: { ...f.segment, payload: data.subarray(f.payloadAt) } };
  });
}

test('a corrupted record body fails authentication; a garbage record header is malformed', async (t) => {
  const b = await setUp(t);
  if (!b) return;
  const port = b.clientPort[2]!;
  const { bodyStarts, frameAt } = recordsOf(b.frames, serverPort(b), port);
  const last = bodyStarts.at(-2)!; // a record well after the handshake
  const [bodyFrame, bodyAt] = frameAt(last + 10);
  let decoded = decryptFrames(corrupt(b.frames, bodyFrame, bodyAt, (x) => x ^ 0xff), b.keys);
  assertOthersIntact(b, decoded, port);
  assert.equal(only(decoded, port).result.reason, 'decryption failed (wrong keys)');
  assert.equal(only(decoded, port).result.decrypted, true, 'records before the damage were decrypted');

  const [headerFrame, headerAt] = frameAt(last - 5);
  decoded = decryptFrames(corrupt(b.frames, headerFrame, headerAt, () => 0x99), b.keys);
  assertOthersIntact(b, decoded, port);
  assert.equal(only(decoded, port).result.reason, 'malformed TLS record');
});

test('a connection carrying garbage is not TLS, the TLS connections beside it still decode', async (t) => {
  const b = await setUp(t);
  if (!b) return;
  const { frames: garbage, port } = await captureTcpExchange(
    '127.0.0.1',
    (socket) => socket.on('data', () => socket.end('HTTP/1.1 400 Bad Request\r\n\r\n')),
    async (socket) => {
      // Deterministic bytes that are no TLS record (first byte 0x47 'G').
      socket.end(Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n' + '\x00\xff'.repeat(100), 'latin1'));
      socket.resume(); // read the reply so the close completes
      await once(socket, 'close');
    },
  );
  const decoded = decryptFrames([...garbage, ...b.frames], b.keys);
  assertOthersIntact(b, decoded.filter((c) => c.info.server.port !== port), null);
  const c = decoded.find((x) => x.info.server.port === port)!;
  assert.equal(c.result.reason, 'not TLS');
  assert.equal(c.result.decrypted, false);
});

test('a TLS 1.2 AEAD record shorter than its explicit nonce and tag fails to open, it does not throw (found by the fuzz test)', () => {
  for (const cipher of ['aes-128-gcm', 'aes-256-gcm', 'chacha20-poly1305'] as const) {
    const key = Buffer.alloc(cipher === 'aes-128-gcm' ? 16 : 32, 7);
    const iv = Buffer.alloc(cipher === 'chacha20-poly1305' ? 12 : 4, 9);
    const decryptor = new Tls12AeadDecryptor(cipher, key, iv);
    // 8 bytes of explicit nonce (GCM) and 10 of a 16-byte tag: at most 23 bytes can never be a sealed record.
    for (const length of [0, 7, 8, 15, 18, 23]) {
      assert.equal(decryptor.open(23, 0x0303, new Uint8Array(5), new Uint8Array(length)), null, `${cipher}, ${length} bytes`);
    }
  }
});
