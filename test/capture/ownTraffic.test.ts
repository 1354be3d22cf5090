// capture's default filter: only the targets' own TCP traffic (issue 8, defect 4: in the host network
// namespace another process's plain HTTP download ended up in the report). Referees: `ss` for the socket
// tables we parse; tshark for what the pcapng holds.
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { once } from 'node:events';
import { test } from 'node:test';
import { readFileSync } from 'node:fs';
import { TargetTraffic } from '../../src/capture/index.js';
import { parseProcTcp } from '../../src/probe/sockets.js';
import { connectionKey } from '../../src/net/index.js';
import { requireProbing } from '../probe/harness.js';
import { requireOrSkip } from '../support/env.js';
import { loadFixtures, testPki } from '../support/fixtures.js';
import { startCli } from '../support/cli.js';
import { secretTempDir } from '../support/pki.js';
import { commandExists, secretFileIn, spawnChecked, startServer, tsharkFields } from '../support/traffic.js';

async function listen(host: string): Promise<net.Server> {
  const server = net.createServer((s) => s.on('error', () => undefined));
  server.listen(0, host);
  await once(server, 'listening');
  return server;
}

/** Any address: /proc says 0.0.0.0 or ::, ss says * or 0.0.0.0. */
const wild = (ip: string): string => (ip === '::' || ip === '0.0.0.0' || ip === '*' ? '*' : ip);

const portOf = (s: net.Server): number => (s.address() as net.AddressInfo).port;

test('/proc/net/tcp and tcp6 rows equal ss\'s view of the same sockets (addresses, ports, inodes)', async (t) => {
  if (!requireOrSkip(t, commandExists('ss'), 'ss (iproute2) is needed')) return;
  const v4 = await listen('127.0.0.1');
  const v6 = await listen('::');
  const client = net.connect(portOf(v4), '127.0.0.1');
  await once(client, 'connect');
  const mapped = net.connect(portOf(v6), '127.0.0.1'); // an IPv4 peer of a dual-stack listener
  await once(mapped, 'connect');
  try {
    const ports = new Set([portOf(v4), portOf(v6), client.localPort!, mapped.localPort!]);
    const ours = [...parseProcTcp(readFileSync('/proc/self/net/tcp', 'latin1')), ...parseProcTcp(readFileSync('/proc/self/net/tcp6', 'latin1'))]
      .filter((s) => ports.has(s.local.port) && s.inode !== 0)
      .map((s) => `${wild(s.local.ip)} ${s.local.port} ${wild(s.remote.ip)} ${s.remote.port} ${s.inode}`)
      .sort();
    const { stdout } = await spawnChecked('ss', ['-tanHe']);
    // "STATE RECV SEND LOCAL PEER ... ino:N": the address is everything before the last ':'; [::ffff:a.b.c.d] is IPv4.
    const endpoint = (text: string): string => {
      const at = text.lastIndexOf(':');
      const ip = wild(text.slice(0, at).replace(/^\[|\]$/g, '').replace(/^::ffff:/, ''));
      return `${ip} ${text.slice(at + 1) === '*' ? 0 : text.slice(at + 1)}`;
    };
    const theirs = stdout.split('\n').filter(Boolean).map((line) => line.trim().split(/\s+/)).flatMap((f) => {
      const ino = /ino:(\d+)/.exec(f.join(' '))?.[1];
      const local = endpoint(f[3]!);
      if (!ino || ino === '0' || !ports.has(Number(local.split(' ')[1]))) return [];
      return [`${local} ${endpoint(f[4]!)} ${ino}`];
    }).sort();
    assert.ok(ours.length >= 6, ours.join('\n'));
    assert.deepEqual(ours, theirs);
  } finally {
    client.destroy();
    mapped.destroy();
    v4.close();
    v6.close();
  }
});

test('TargetTraffic: a connection to our listener or from our socket is ours; another process\'s is not', async () => {
  const ours = await listen('127.0.0.1');
  const outgoing = net.connect(portOf(ours), '127.0.0.1');
  await once(outgoing, 'connect');
  const traffic = new TargetTraffic(() => [process.pid]);
  const local = { ip: '127.0.0.1', port: outgoing.localPort! };
  const server = { ip: '127.0.0.1', port: portOf(ours) };
  const id = connectionKey;
  try {
    // The listening port (and the server port of its own outgoing connection, the same here) is in tcpdump's filter.
    const bpf = traffic.bpfFilter();
    assert.ok(bpf.ports.has(portOf(ours)) && bpf.filter.includes(`port ${portOf(ours)}`), bpf.filter);
    assert.doesNotMatch(bpf.filter, new RegExp(`port ${outgoing.localPort}\\b`), 'not the ephemeral port of its own outgoing connection');
    assert.equal(traffic.owns(id(local, server), local, server), true);
    // A port nobody of ours uses, to and from a non-local address on a port we listen on locally.
    const stranger = { ip: '127.0.0.1', port: 1 };
    const remote443 = { ip: '192.0.2.10', port: portOf(ours) };
    const client = { ip: '192.0.2.20', port: 40000 };
    assert.equal(traffic.owns(id(stranger, { ip: '127.0.0.1', port: 2 }), stranger, { ip: '127.0.0.1', port: 2 }), false);
    assert.equal(traffic.owns(id(client, remote443), client, remote443), false, 'our listening port on another host is not ours');
  } finally {
    outgoing.destroy();
    ours.close();
  }
});

test('capture without -f keeps the target\'s own connections and leaves another process\'s download out, and says so', async (t) => {
  if (!requireProbing(t)) return;
  if (!requireOrSkip(t, ['tcpdump', 'tshark', 'curl'].every(commandExists), 'tcpdump, tshark and curl are needed')) return;
  const server = loadFixtures({ program: 'tlsserver', arch: 'amd64', mode: 'exe', stripped: true }).at(-1);
  const client = loadFixtures({ program: 'tlsclient', arch: 'amd64', mode: 'exe', stripped: true }).at(-1);
  if (!requireOrSkip(t, server !== undefined && client !== undefined, 'no stripped amd64 fixtures (bash scripts/setup.sh --tests)')) return;
  const pki = await testPki();
  const dir = secretTempDir('own-traffic');
  // Another process's plain HTTP download on the same host, during the capture.
  const download = http.createServer((_, res) => res.end(Buffer.alloc(200_000, 'x')));
  download.listen(0, '127.0.0.1');
  await once(download, 'listening');
  const downloadPort = (download.address() as net.AddressInfo).port;
  const target = await startServer(server!.path, ['-addr', '127.0.0.1:0', '-cert', pki.serverCert, '-key', pki.serverKey]);
  const pcapng = secretFileIn(dir, 'own.pcapng');
  try {
    const capture = await startCli(['capture', '--pid', String(target.child.pid), '-w', pcapng, '--json'], /gokeylog: capturing on /);
    assert.match(capture.stderr(), /the targets' own TCP traffic/);
    try {
      await spawnChecked('curl', ['-sS', '-o', '/dev/null', `http://127.0.0.1:${downloadPort}/big`]);
      await spawnChecked(client!.path, ['-url', `https://127.0.0.1:${target.port}/`, '-ca', pki.caCert, '-n', '3', '-path', '/healthz']);
      await spawnChecked('curl', ['-sS', '-o', '/dev/null', `http://127.0.0.1:${downloadPort}/big`]);
    } finally {
      assert.equal(await capture.stop('SIGINT'), 0, capture.stderr());
    }
    const summary = JSON.parse(capture.stdout().toString('utf8')) as { filter: string; packetsOfOtherProcesses: number };
    assert.match(summary.filter, /targets' own TCP traffic/);
    // tcpdump's own filter already keeps to the target's listening port: the download is not even copied.
    assert.match(summary.filter, new RegExp(`tcpdump filter "tcp and \\(port ${target.port}\\)"`));
    const ports = await tsharkFields(pcapng, { fields: ['tcp.srcport', 'tcp.dstport'] });
    assert.ok(ports.length > 0);
    assert.ok(ports.every(([s, d]) => Number(s) === target.port || Number(d) === target.port), 'only the target\'s port in the pcapng');
    const paths = await tsharkFields(pcapng, { filter: 'http2.headers.path', fields: ['http2.headers.path'] });
    assert.deepEqual(paths.map(([p]) => p), ['/healthz', '/healthz', '/healthz']);
  } finally {
    await target.stop();
    download.close();
  }
});
