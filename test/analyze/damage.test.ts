// Hand-made damage on a real capture: one connection joined after its handshake (packets cut with
// editcap), one with wrong keys; each is listed with its reason while the third still decodes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { isRoot, requireOrSkip } from '../support/env.js';
import { loadFixtures } from '../support/fixtures.js';
import { commandExists, runTraffic, spawnChecked, tsharkFields } from '../support/traffic.js';
import { runAnalyze } from './cli.js';

interface Report {
  connections: Array<{ client: { port: number }; server: { port: number }; decrypted: boolean; reason?: string }>;
  requests: Array<{ connectionId: number; path: string; status: number }>;
}

test('a connection seen from the middle and one with wrong keys get their reasons; the rest decodes', async (t) => {
  const [server] = loadFixtures({ program: 'tlsserver', arch: 'amd64', mode: 'exe', stripped: false }).slice(-1);
  const [client] = loadFixtures({ program: 'tlsclient', arch: 'amd64', mode: 'exe', stripped: false }).slice(-1);
  if (!requireOrSkip(t, isRoot(), 'capturing with tcpdump needs root')) return;
  if (!requireOrSkip(t, commandExists('tshark') && commandExists('editcap') && commandExists('tcpdump'), 'tshark, editcap and tcpdump are needed')) return;
  if (!requireOrSkip(t, server !== undefined && client !== undefined, 'Go fixtures not built (npm run setup)')) return;
  const traffic = await runTraffic({ server: server!, client: client!, clientCert: true, capture: true, requests: 6, conns: 3, paths: ['/healthz'] });

  // Per TCP stream (tshark's numbering): the client port, the client random, and the frames up to its first HTTP/2 request.
  const hellos = await tsharkFields(traffic.pcap!, { tlsPort: traffic.port, filter: 'tls.handshake.type == 1', fields: ['tcp.stream', 'tcp.srcport', 'tls.handshake.random'] });
  assert.equal(hellos.length, 3);
  const [joined, wrongKeys, intact] = hellos.map(([stream, port, random]) => ({ stream: stream!, port: Number(port), random: random!.replace(/:/g, '') }));
  const early = await tsharkFields(traffic.pcap!, { keyLog: traffic.serverKeyLog, tlsPort: traffic.port, filter: `tcp.stream == ${joined!.stream} && !http2.type`, fields: ['frame.number'] });
  const firstHttp2 = await tsharkFields(traffic.pcap!, { keyLog: traffic.serverKeyLog, tlsPort: traffic.port, filter: `tcp.stream == ${joined!.stream} && http2`, fields: ['frame.number'] });
  const cut = early.map((r) => Number(r[0])).filter((n) => n < Number(firstHttp2[0]![0]));
  const damaged = path.join(traffic.dir, 'damaged.pcap');
  await spawnChecked('editcap', [traffic.pcap!, damaged, ...cut.map(String)]);

  // Same lines, but every secret of the second connection altered.
  const keyLog = path.join(traffic.dir, 'wrong.keylog');
  const lines = readFileSync(traffic.serverKeyLog, 'utf8').split('\n').map((line) => {
    const [label, random, secret] = line.split(' ');
    if (random?.toLowerCase() !== wrongKeys!.random.toLowerCase() || !secret) return line;
    return `${label} ${random} ${(secret[0] === '0' ? '1' : '0') + secret.slice(1)}`;
  });
  writeFileSync(keyLog, lines.join('\n'), { mode: 0o600 });

  const run = await runAnalyze([damaged, '--keylog', keyLog, '--json']);
  assert.equal(run.code, 0, run.stderr);
  const report = JSON.parse(run.stdout) as Report;
  const byPort = (port: number) => report.connections.find((c) => c.client.port === port)!;
  assert.equal(report.connections.length, 3);
  // Seen from the middle, roles are guessed (the higher port is taken as the client): match either end.
  const midway = report.connections.find((c) => c.client.port === joined!.port || c.server.port === joined!.port)!;
  assert.deepEqual([midway.decrypted, midway.reason], [false, 'handshake not captured']);
  assert.deepEqual([byPort(wrongKeys!.port).decrypted, byPort(wrongKeys!.port).reason], [false, 'decryption failed (wrong keys)']);
  // The intact one decodes (a segment tcpdump dropped on a loaded machine would say so, not hide it).
  assert.equal(byPort(intact!.port).decrypted, true);
  assert.ok([undefined, 'stream incomplete (lost segments)'].includes(byPort(intact!.port).reason));
  const intactId = report.connections.indexOf(byPort(intact!.port)) + 1;
  assert.ok(report.requests.length >= 1);
  assert.ok(report.requests.every((r) => r.connectionId === intactId && r.path === '/healthz'));
});
