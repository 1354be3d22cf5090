// TLS 1.3 joined mid-stream, with KeyUpdate, against OpenSSL: s_client and s_server talk through a
// recording relay, each with its own -keylogfile; the test types lines into both and makes the client send a
// KeyUpdate that requests one back ("K"). Joining the recorded streams after a few lines with only the
// traffic secrets of OpenSSL's own key log (and a sequence number counted from the record headers) must
// give back exactly the lines typed after the join, on both sides of the KeyUpdate. Wrong keys give reasons.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import type { Direction } from '../../src/net/index.js';
import { MidstreamTlsConnection, type MidstreamKey, type TlsResult } from '../../src/tls/index.js';
import { findRecordBoundary } from '../../src/tls/recordBoundary.js';
import { requireOrSkip } from '../support/env.js';
import { secretTempDir, testPki } from '../support/pki.js';
import { seededRandom } from '../support/random.js';
import { commandExists, freePort, secretFileIn } from '../support/traffic.js';

interface Recorded {
  chunks: { direction: Direction; bytes: Buffer }[];
  /** Chunk count when each typed line had arrived at the other end. */
  marks: { line: string; direction: Direction; chunksBefore: number }[];
  clientKeys: Map<string, Buffer>;
}

/** Resolves once `text` appeared in what `child` printed (stdout or stderr). */
function waitFor(child: ChildProcess, text: string): Promise<void> {
  return new Promise((resolve, reject) => {
    let seen = '';
    const onData = (b: Buffer): void => {
      seen += b.toString('latin1');
      if (seen.includes(text)) {
        child.stdout!.off('data', onData);
        child.stderr!.off('data', onData);
        resolve();
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', () => reject(new Error(`exited before printing ${JSON.stringify(text)}: ${seen.slice(-400)}`)));
  });
}

async function recordOpenssl(): Promise<Recorded> {
  const pki = await testPki();
  const dir = secretTempDir('openssl-keyupdate');
  const clientKeyLog = secretFileIn(dir, 'client.keylog');
  const port = await freePort();
  const server = spawn('openssl', ['s_server', '-accept', `127.0.0.1:${port}`, '-cert', pki.serverCert, '-key', pki.serverKey, '-tls1_3', '-naccept', '1', '-ign_eof'], { stdio: 'pipe' });
  const chunks: Recorded['chunks'] = [];
  const relay = net.createServer((inbound) => {
    const outbound = net.connect(port, '127.0.0.1');
    inbound.on('data', (bytes: Buffer) => void (chunks.push({ direction: 'toServer', bytes }), outbound.write(bytes)));
    outbound.on('data', (bytes: Buffer) => void (chunks.push({ direction: 'toClient', bytes }), inbound.write(bytes)));
    inbound.on('end', () => outbound.end());
    outbound.on('end', () => inbound.end());
    inbound.on('error', () => outbound.destroy());
    outbound.on('error', () => inbound.destroy());
  });
  let client: ChildProcess | undefined;
  const marks: Recorded['marks'] = [];
  try {
    await waitFor(server, 'ACCEPT');
    relay.listen(0, '127.0.0.1');
    await once(relay, 'listening');
    const relayPort = (relay.address() as net.AddressInfo).port;
    client = spawn('openssl', ['s_client', '-connect', `127.0.0.1:${relayPort}`, '-tls1_3', '-keylogfile', clientKeyLog, '-CAfile', pki.caCert], { stdio: 'pipe' });
    await waitFor(client, 'Verify return code');
    const type = async (from: ChildProcess, to: ChildProcess, direction: Direction, line: string): Promise<void> => {
      const arrived = waitFor(to, line);
      from.stdin!.write(`${line}\n`);
      await arrived;
      marks.push({ line, direction, chunksBefore: chunks.length });
    };
    for (let i = 0; i < 4; i++) {
      await type(client, server, 'toServer', `client line ${i}`);
      await type(server, client, 'toClient', `server line ${i}`);
    }
    // "K": a KeyUpdate that asks the peer to update too (OpenSSL prints KEYUPDATE when it sends one).
    const updated = waitFor(client, 'KEYUPDATE');
    client.stdin!.write('K\n');
    await updated;
    for (let i = 4; i < 8; i++) {
      await type(client, server, 'toServer', `client line ${i}`);
      await type(server, client, 'toClient', `server line ${i}`);
    }
    client.stdin!.write('Q\n');
    await once(client, 'exit');
  } finally {
    client?.kill();
    server.kill();
    relay.close();
  }
  const clientKeys = new Map(readFileSync(clientKeyLog, 'utf8').trim().split('\n').map((l) => [l.split(' ')[0]!, Buffer.from(l.split(' ')[2]!, 'hex')] as const));
  return { chunks, marks, clientKeys };
}

/** Protected records (17 03 03) of a direction in chunks [0, end): counted from the headers only. */
function protectedRecordsBefore(chunks: Recorded['chunks'], direction: Direction, end: number): number {
  const stream = Buffer.concat(chunks.slice(0, end).filter((c) => c.direction === direction).map((c) => c.bytes));
  let n = 0;
  for (let at = 0; at + 5 <= stream.length; at += 5 + stream.readUInt16BE(at + 3)) if (stream[at] === 23) n++;
  return n;
}

function joinAt(r: Recorded, from: number, keys: { toServer: MidstreamKey[]; toClient: MidstreamKey[] }) {
  const out: Record<Direction, Buffer[]> = { toServer: [], toClient: [] };
  let result: TlsResult | undefined;
  const tls = new MidstreamTlsConnection(keys, { onApplicationData: (d, data) => out[d].push(Buffer.from(data)), onEnd: (res) => (result = res) });
  r.chunks.slice(from).forEach((c, i) => tls.onData(c.direction, c.bytes, BigInt(from + i)));
  tls.onEnd('fin', BigInt(r.chunks.length));
  return { toServer: Buffer.concat(out.toServer).toString('latin1'), toClient: Buffer.concat(out.toClient).toString('latin1'), result: result! };
}

/** The cipher suite of the ServerHello (record 5 + handshake 4 + version 2 + random 32, then the session id). */
function serverHelloSuite(r: Recorded): number {
  const hello = r.chunks.find((c) => c.direction === 'toClient')!.bytes;
  const at = 5 + 4 + 2 + 32;
  return hello.readUInt16BE(at + 1 + hello[at]!);
}

let recorded: Promise<Recorded> | undefined;

test('TLS 1.3 joined mid-stream follows KeyUpdate both ways: the lines typed after the join come back exactly', async (t) => {
  if (!requireOrSkip(t, commandExists('openssl'), 'openssl is needed')) return;
  const r = await (recorded ??= recordOpenssl());
  const join = r.marks.find((m) => m.line === 'server line 1')!.chunksBefore;
  const suite = serverHelloSuite(r);
  // Counted from headers only, so it includes the client's Finished record: the alignment must correct it by one.
  const key = (label: string, direction: Direction): MidstreamKey => ({ suite, secret: r.clientKeys.get(label)!, seq: BigInt(protectedRecordsBefore(r.chunks, direction, join)), timeNs: BigInt(join) });
  const joined = joinAt(r, join, { toServer: [key('CLIENT_TRAFFIC_SECRET_0', 'toServer')], toClient: [key('SERVER_TRAFFIC_SECRET_0', 'toClient')] });
  const typed = (direction: Direction): string => r.marks.filter((m) => m.direction === direction && m.chunksBefore > join).map((m) => `${m.line}\n`).join('');
  assert.equal(joined.result.reason, null, JSON.stringify(joined.result.midstream, (_, v) => (typeof v === 'bigint' ? String(v) : v)));
  assert.equal(joined.toServer, typed('toServer'));
  assert.equal(joined.toClient, typed('toClient'));
  assert.ok(joined.toServer.includes('client line 7') && joined.toClient.includes('server line 7'), 'after the KeyUpdate');
});

test('TLS 1.3 joined mid-stream: a wrong secret, a sequence number out of the window, a missing direction give reasons and nothing else', async (t) => {
  if (!requireOrSkip(t, commandExists('openssl'), 'openssl is needed')) return;
  const r = await (recorded ??= recordOpenssl());
  const join = r.marks.find((m) => m.line === 'client line 2')!.chunksBefore;
  const seq = BigInt(protectedRecordsBefore(r.chunks, 'toServer', join));
  const secret = r.clientKeys.get('CLIENT_TRAFFIC_SECRET_0')!;
  const suite = serverHelloSuite(r);
  const wrong = Buffer.from(secret);
  wrong[0]! ^= 1;
  // A suite of the other hash length, and one of the same length with another cipher.
  const otherLength = secret.length === 48 ? 0x1301 : 0x1302;
  const sameLength = secret.length === 48 ? null : suite === 0x1301 ? 0x1303 : 0x1301;
  for (const [name, key, failure] of [
    ['wrong secret', { suite, secret: wrong, seq, timeNs: BigInt(join) }, /no record authenticates with the logged secret at sequence numbers/],
    ['seq far off', { suite, secret, seq: seq + 100_000n, timeNs: BigInt(join) }, new RegExp(`at sequence numbers ${seq + 100_000n - 4096n}…${seq + 100_000n + 4096n}`)],
    ['suite of another hash', { suite: otherLength, secret, seq, timeNs: BigInt(join) }, /the secret is \d+ bytes, but TLS_\w+ uses \d+-byte secrets/],
    ...(sameLength === null ? [] : [['suite of another cipher', { suite: sameLength, secret, seq, timeNs: BigInt(join) }, /no record authenticates/] as const]),
  ] as const) {
    const joined = joinAt(r, join, { toServer: [key], toClient: [] });
    assert.equal(joined.toServer, '', name);
    assert.equal(joined.toClient, '', name);
    assert.equal(joined.result.decrypted, false, name);
    // Whichever direction failed first names the connection's reason; each direction says its own.
    assert.ok(['mid-stream key did not verify', 'no mid-stream key for this direction'].includes(joined.result.reason!), name);
    assert.match(joined.result.midstream!.toServer.failure!, failure, name);
    assert.equal(joined.result.midstream!.toClient.failure, 'the key log has no mid-stream secret for this direction', name);
  }
});

test('record boundary: found after any cut of a real TLS 1.3 stream; fuzz: cut and mutated streams never throw', async (t) => {
  if (!requireOrSkip(t, commandExists('openssl'), 'openssl is needed')) return;
  const r = await (recorded ??= recordOpenssl());
  const join = r.marks[0]!.chunksBefore;
  const stream = Buffer.concat(r.chunks.slice(join).filter((c) => c.direction === 'toServer').map((c) => c.bytes));
  const starts: number[] = [];
  for (let at = 0; at + 5 <= stream.length; at += 5 + stream.readUInt16BE(at + 3)) starts.push(at);
  for (let cut = 0; cut < stream.length; cut++) {
    const next = starts.find((s) => s >= cut);
    const found = findRecordBoundary(stream.subarray(cut), true);
    if (next === undefined || next === stream.length) assert.notEqual(found.kind, 'found', `cut ${cut}`);
    else assert.deepEqual(found, { kind: 'found', offset: next - cut }, `cut ${cut}`);
  }
  const random = seededRandom(13);
  const key: MidstreamKey = { suite: 0x1301, secret: r.clientKeys.get('CLIENT_TRAFFIC_SECRET_0')!, seq: 3n, timeNs: 0n };
  for (let round = 0; round < 200; round++) {
    const chunks = r.chunks.map((c) => ({ direction: c.direction, bytes: Buffer.from(c.bytes) }));
    for (let m = 0; m < random(5); m++) {
      const c = chunks[random(chunks.length)]!;
      if (c.bytes.length) c.bytes[random(c.bytes.length)] = random(256);
    }
    const from = random(chunks.length);
    chunks[from]!.bytes = chunks[from]!.bytes.subarray(random(chunks[from]!.bytes.length));
    assert.doesNotThrow(() => joinAt({ ...r, chunks }, from, { toServer: [key], toClient: [key] }), `seed 13, round ${round}`);
  }
});

