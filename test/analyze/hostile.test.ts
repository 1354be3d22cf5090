// Captures an attacker shapes to exhaust analyze's memory (issue 12, item 4), made for real: a TLS client of
// ours talks to a TLS server of ours over loopback, tcpdump records it, and both keep their key logs. Each
// input must leave analyze's peak RSS (GNU time, the referee) under 512 MB and end in a report, not a crash.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import tls from 'node:tls';
import { gzipSync } from 'node:zlib';
import { http2Frame } from '../http/build.js';
import { pcapHeader } from '../pcap/handBuilt.js';
import { isRoot, requireOrSkip } from '../support/env.js';
import { cliArgv, repoRoot } from '../support/paths.js';
import { secretTempDir, testPki } from '../support/pki.js';
import { commandExists, runProcess, startCapture } from '../support/traffic.js';

const MAX_RSS_KB = 512 * 1024;

const gnuTime = (t: TestContext): boolean => requireOrSkip(t, existsSync('/usr/bin/time'), 'needs GNU time (/usr/bin/time, Debian package time)');
const preconditions = (t: TestContext): boolean =>
  gnuTime(t) && requireOrSkip(t, isRoot() && commandExists('tcpdump'), 'recording with tcpdump needs root');

const frame = http2Frame;
const DATA = 0, HEADERS = 1, SETTINGS = 4, CONTINUATION = 9;
const END_STREAM = 1, END_HEADERS = 4;
const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');

/** HPACK literal fields without indexing, new names, no Huffman (RFC 7541 §6.2.2); lengths under 127. */
function literals(fields: [string, string][]): Buffer {
  return Buffer.concat(fields.flatMap(([n, v]) => [Buffer.from([0x00, n.length]), Buffer.from(n), Buffer.from([v.length]), Buffer.from(v)]));
}

/**
 * One TLS 1.3 connection over loopback, recorded by tcpdump: `client` bytes go to the server, which answers
 * with `server` bytes once it has read `expectFromClient` bytes. Returns the pcap and the key log.
 */
async function recordTls(client: Buffer[], server: Buffer[], expectFromClient: number): Promise<{ pcap: string; keyLog: string }> {
  const pki = await testPki();
  const dir = secretTempDir('hostile');
  const keys: string[] = [];
  const srv = tls.createServer({ cert: readFileSync(pki.serverCert), key: readFileSync(pki.serverKey), ALPNProtocols: ['h2'] }, (socket) => {
    let got = 0;
    socket.on('data', (d: Buffer) => {
      got += d.length;
      if (got >= expectFromClient) {
        got = -Infinity;
        for (const b of server) socket.write(b);
        socket.end();
      }
    });
    socket.on('error', () => undefined);
  });
  srv.on('keylog', (line: Buffer) => keys.push(line.toString('latin1')));
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const port = (srv.address() as net.AddressInfo).port;
  const capture = await startCapture({ port, file: path.join(dir, 'hostile.pcap') });
  try {
    const socket = tls.connect({ port, host: '127.0.0.1', ca: readFileSync(pki.caCert), servername: 'localhost', ALPNProtocols: ['h2'], rejectUnauthorized: false });
    await once(socket, 'secureConnect');
    for (const b of client) if (!socket.write(b)) await once(socket, 'drain');
    socket.resume();
    await once(socket, 'end');
    socket.destroy();
  } finally {
    await capture.stop();
    srv.close();
  }
  const keyLog = path.join(dir, 'keys.log');
  writeFileSync(keyLog, keys.join(''), { mode: 0o600 });
  return { pcap: capture.file, keyLog };
}

/** `gokeylog analyze ARGS` under GNU time: its exit, stdout, stderr and peak RSS in KiB. */
async function analyzeMeasured(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string; maxRssKb: number }> {
  const r = await runProcess('/usr/bin/time', ['-q', '-f', 'MAXRSS_KB=%M', process.execPath, ...cliArgv(), 'analyze', ...args], { cwd: repoRoot(), timeoutMs: 600_000 });
  const m = /MAXRSS_KB=(\d+)\n?$/.exec(r.stderr);
  assert.ok(m, `GNU time reported no peak RSS: ${r.stderr.slice(-500)}`);
  return { code: r.code, stdout: r.stdout, stderr: r.stderr.slice(0, m.index), maxRssKb: Number(m[1]) };
}

test('one HEADERS and 26k CONTINUATION frames (106 MB): the header block is capped, the stream marked, analyze stays under 512 MB', { timeout: 900_000 }, async (t) => {
  if (!preconditions(t)) return;
  const fragment = Buffer.alloc(4096, 0x82); // every byte an indexed field (:method GET): a block that never ends
  const frames = [PREFACE, frame(SETTINGS, 0, 0, Buffer.alloc(0)), frame(HEADERS, 0, 1, literals([[':path', '/flood']]))];
  for (let i = 0; i < 26_000; i++) frames.push(frame(CONTINUATION, i === 25_999 ? END_HEADERS : 0, 1, fragment));
  const total = frames.reduce((n, b) => n + b.length, 0);
  assert.ok(total > 106_000_000, `${total} bytes`);
  const { pcap, keyLog } = await recordTls(frames, [frame(SETTINGS, 0, 0, Buffer.alloc(0))], total);
  for (const format of [['--json'], ['--requests']]) {
    const r = await analyzeMeasured([pcap, '--keylog', keyLog, ...format]);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(r.maxRssKb < MAX_RSS_KB, `peak RSS ${r.maxRssKb} KiB`);
    assert.match(r.stdout, /header block of stream 1 over 16 MiB \(HEADERS and \d+ CONTINUATION frames\)/);
  }
});

test('40 gzip bombs in 2.7 MB with --bodies: one body budget for the run, analyze stays under 512 MB', { timeout: 900_000 }, async (t) => {
  if (!preconditions(t)) return;
  const bomb = gzipSync(Buffer.alloc(64 << 20), { level: 9 }); // 64 MiB of zeros in ~65 KB
  const client = [PREFACE, frame(SETTINGS, 0, 0, Buffer.alloc(0))];
  const server = [frame(SETTINGS, 0, 0, Buffer.alloc(0))];
  for (let i = 0; i < 40; i++) {
    const stream = 2 * i + 1;
    client.push(frame(HEADERS, END_STREAM | END_HEADERS, stream, literals([[':method', 'GET'], [':scheme', 'https'], [':path', `/bomb/${i}`], [':authority', 'localhost']])));
    server.push(frame(HEADERS, END_HEADERS, stream, literals([[':status', '200'], ['content-type', 'application/json'], ['content-encoding', 'gzip']])));
    for (let at = 0; at < bomb.length; at += 16_384) server.push(frame(DATA, at + 16_384 >= bomb.length ? END_STREAM : 0, stream, bomb.subarray(at, at + 16_384)));
  }
  const wire = server.reduce((n, b) => n + b.length, 0);
  assert.ok(wire < 2_800_000, `${wire} bytes of responses`);
  const { pcap, keyLog } = await recordTls(client, server, client.reduce((n, b) => n + b.length, 0));
  for (const format of ['--json', '--ndjson']) {
    const r = await analyzeMeasured([pcap, '--keylog', keyLog, '--bodies', format]);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(r.maxRssKb < MAX_RSS_KB, `peak RSS ${r.maxRssKb} KiB`);
    const requests = format === '--json'
      ? (JSON.parse(r.stdout) as { requests: Record<string, unknown>[] }).requests
      : r.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>).filter((o) => o.type === 'request');
    assert.equal(requests.length, 40, 'every response is reported');
    // Each bomb inflates past the run's 16 MiB budget: none is decoded, each is kept as sent (65 KB).
    const inflated = requests.filter((q) => typeof q.responseBody === 'string' && (q.responseBody as string).length > 1 << 20);
    assert.equal(inflated.length, 0, 'no bomb was inflated');
  }
});

test('--keylog /dev/zero and a key log with a 200 MB line: streamed and bounded, under 512 MB', { timeout: 900_000 }, async (t) => {
  if (!gnuTime(t)) return;
  const dir = secretTempDir('keylogs');
  const pcap = path.join(dir, 'empty.pcap');
  writeFileSync(pcap, pcapHeader(true, false, 1)); // no packets

  const zero = await analyzeMeasured([pcap, '--keylog', '/dev/zero']);
  assert.equal(zero.code, 3, zero.stderr);
  assert.equal(zero.stderr, 'gokeylog: /dev/zero is not an NSS key log (line 1 is over 64 KiB long).\n');
  assert.ok(zero.maxRssKb < MAX_RSS_KB, `peak RSS ${zero.maxRssKb} KiB`);

  const good = `CLIENT_RANDOM ${'11'.repeat(32)} ${'22'.repeat(48)}\n`;
  const long = path.join(dir, 'long.keylog');
  writeFileSync(long, Buffer.concat([Buffer.from(good), Buffer.alloc(200_000_000, 'a'), Buffer.from(`\n${good.replace(/11/g, '33')}`)]), { mode: 0o600 });
  const r = await analyzeMeasured([pcap, '--keylog', long, '--json']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /long\.keylog:2: over 64 KiB long, line skipped/);
  assert.ok(r.maxRssKb < MAX_RSS_KB, `peak RSS ${r.maxRssKb} KiB`);
});
