// End to end, referee tshark: real Go fixture traffic (server requiring a client certificate) captured by
// tcpdump; `gokeylog analyze --json` with the server's key log must list the same HTTP requests tshark
// decodes (connection, stream, method, path, user agent, status) and the client certificate we generated.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { loadFixtures, testPki } from '../support/fixtures.js';
import { isRoot, requireOrSkip } from '../support/env.js';
import { commandExists, runTraffic, spawnChecked, startCapture, tsharkFields, type TrafficOptions } from '../support/traffic.js';
import { runAnalyze } from './cli.js';

interface JsonReport {
  connections: Array<{ id: number; decrypted: boolean; reason?: string; alpn: string | null; tlsVersion: string | null; cipherSuite: string | null; clientCertificate?: { commonName: string; organizations: string[] } }>;
  requests: Array<{ connectionId: number; streamId: number; method: string; path: string; status: number | null; userAgent: string | null; kube: { verb: string; resource?: string; namespace?: string } }>;
  identities: Array<{ user: string; groups: string[]; requests: number }>;
}

const PATHS = ['/api/v1/namespaces/default/pods?limit=3', '/apis/apps/v1/namespaces/default/deployments', '/healthz', '/api/v1/namespaces/default/pods?watch=1', '/nowhere'];
const USER_AGENT = 'gokeylog-e2e/1.0 (test)';

function preconditions(t: import('node:test').TestContext) {
  const [server] = loadFixtures({ program: 'tlsserver', arch: 'amd64', mode: 'exe', stripped: false }).slice(-1);
  const [client] = loadFixtures({ program: 'tlsclient', arch: 'amd64', mode: 'exe', stripped: false }).slice(-1);
  if (!requireOrSkip(t, isRoot(), 'capturing with tcpdump needs root')) return null;
  if (!requireOrSkip(t, commandExists('tshark') && commandExists('tcpdump'), 'tshark and tcpdump are needed')) return null;
  if (!requireOrSkip(t, server !== undefined && client !== undefined, 'Go fixtures not built (npm run setup)')) return null;
  return { server: server!, client: client! };
}

const key = (row: unknown[]): string => JSON.stringify(row);
const sorted = (rows: unknown[][]): string[] => rows.map(key).sort();

/** tshark's HTTP/2 requests and responses as [tcp.stream, stream id, …] rows, one per HEADERS frame. */
async function tsharkHttp2(pcap: string, keyLog: string, port: number) {
  const headersFrames = async (filter: string, fields: string[]) => {
    const rows = await tsharkFields(pcap, { keyLog, tlsPort: port, filter, fields: ['tcp.stream', 'http2.streamid', 'http2.type', ...fields] });
    const out: string[][] = [];
    for (const [conn, ids, types, ...values] of rows) {
      // One packet may carry several frames: keep the stream ids of its HEADERS frames (type 1), in order.
      const headerIds = ids!.split(',').filter((_, i) => types!.split(',')[i] === '1');
      const columns = values.map((v) => v.split(','));
      headerIds.forEach((id, i) => out.push([conn!, id, ...columns.map((c) => c[i] ?? '')]));
    }
    return out;
  };
  const requests = await headersFrames('http2.headers.method', ['http2.headers.method', 'http2.headers.path', 'http2.headers.user_agent']);
  const responses = await headersFrames('http2.headers.status', ['http2.headers.status']);
  return { requests, responses };
}

async function tsharkHttp1(pcap: string, keyLog: string, port: number) {
  const requests = await tsharkFields(pcap, { keyLog, tlsPort: port, filter: 'http.request', fields: ['tcp.stream', 'http.request.method', 'http.request.uri', 'http.user_agent'] });
  const responses = await tsharkFields(pcap, { keyLog, tlsPort: port, filter: 'http.response', fields: ['tcp.stream', 'http.response.code'] });
  return { requests, responses };
}

const cases: Array<{ name: string; options: Partial<TrafficOptions> }> = [
  { name: 'HTTP/2 over TLS 1.3', options: { tls: '1.3' } },
  { name: 'HTTP/2 over TLS 1.2 ChaCha20-Poly1305', options: { cipher: 'chacha20' } },
  { name: 'HTTP/1.1 over TLS 1.3', options: { tls: '1.3', h1: true } },
];

for (const { name, options } of cases) {
  test(`analyze --json equals tshark: ${name}`, async (t) => {
    const programs = preconditions(t);
    if (!programs) return;
    const pki = await testPki();
    const cn = `system:serviceaccount:e2e:${name.replace(/\W+/g, '-').toLowerCase()}`;
    const clientCert = await pki.makeClientCert({ cn, orgs: ['system:serviceaccounts', 'e2e-group'], days: 5 });
    const traffic = await runTraffic({
      ...options, server: programs.server, client: programs.client, pki, clientCert, capture: true,
      requests: 10, conns: 2, paths: PATHS, userAgent: USER_AGENT,
    });
    const run = await runAnalyze([traffic.pcap!, '--keylog', traffic.serverKeyLog, '--json']);
    assert.equal(run.code, 0, run.stderr);
    const report = JSON.parse(run.stdout) as JsonReport;

    assert.equal(report.connections.length, 2);
    for (const c of report.connections) {
      assert.equal(c.decrypted, true, `connection ${c.id}: ${c.reason}`);
      assert.equal(c.clientCertificate?.commonName, cn);
      assert.deepEqual(c.clientCertificate?.organizations, ['system:serviceaccounts', 'e2e-group']);
    }
    // On a loaded machine tcpdump may drop segments (the connection then says so) or stop before the last
    // ones arrive (then they are simply not in the capture): tshark, on the same capture, is the measure.
    assert.ok(report.connections.every((c) => c.reason === undefined || c.reason === 'stream incomplete (lost segments)'));
    assert.ok(report.requests.length >= 1);
    assert.deepEqual(report.identities.map((i) => [i.user, i.requests]), [[cn, report.requests.length]]);

    const ours = report.requests.map((r) => [String(r.connectionId - 1), String(r.streamId), r.method, r.path, r.userAgent ?? '']);
    const oursStatus = report.requests.map((r) => [String(r.connectionId - 1), String(r.streamId), String(r.status)]);
    if (options.h1) {
      const theirs = await tsharkHttp1(traffic.pcap!, traffic.serverKeyLog, traffic.port);
      // HTTP/1.1 has no stream ids: compare per connection in order.
      assert.deepEqual(sorted(ours.map(([conn, , ...rest]) => [conn, ...rest])), sorted(theirs.requests));
      assert.deepEqual(sorted(oursStatus.map(([conn, , status]) => [conn, status])), sorted(theirs.responses));
    } else {
      const theirs = await tsharkHttp2(traffic.pcap!, traffic.serverKeyLog, traffic.port);
      assert.deepEqual(sorted(ours), sorted(theirs.requests));
      assert.deepEqual(sorted(oursStatus), sorted(theirs.responses));
    }

    const watch = report.requests.find((r) => r.path.includes('watch=1'));
    if (watch) assert.deepEqual([watch?.kube.verb, watch?.kube.resource, watch?.kube.namespace], ['watch', 'pods', 'default']);
  });
}

test('analyze lists a connection without keys, with its reason', async (t) => {
  const programs = preconditions(t);
  if (!programs) return;
  const traffic = await runTraffic({ server: programs.server, client: programs.client, clientCert: true, capture: true, requests: 2, conns: 1 });
  const run = await runAnalyze([traffic.pcap!, '--json']);
  assert.equal(run.code, 0, run.stderr);
  const report = JSON.parse(run.stdout) as JsonReport;
  assert.equal(report.connections.length, 1);
  assert.equal(report.connections[0]!.decrypted, false);
  assert.equal(report.connections[0]!.reason, 'no keys for client random');
  assert.equal(report.requests.length, 0);
});

test('keys from a DSB (editcap --inject-secrets), --ndjson streamed per request, --html written', async (t) => {
  const programs = preconditions(t);
  if (!programs) return;
  if (!requireOrSkip(t, commandExists('editcap'), 'editcap is needed')) return;
  const traffic = await runTraffic({ server: programs.server, client: programs.client, clientCert: true, capture: true, requests: 6, conns: 2, paths: PATHS, userAgent: USER_AGENT });
  const pcapng = path.join(traffic.dir, 'with-keys.pcapng');
  const html = path.join(traffic.dir, 'report.html');
  await spawnChecked('editcap', ['--inject-secrets', `tls,${traffic.serverKeyLog}`, traffic.pcap!, pcapng]);
  const run = await runAnalyze([pcapng, '--ndjson', '--html', html]);
  assert.equal(run.code, 0, run.stderr);
  const lines = run.stdout.trim().split('\n').map((l) => JSON.parse(l) as { type: string; method?: string; path?: string; decrypted?: boolean; user?: string });
  // tshark decrypts the pcapng with its embedded keys alone, as we must.
  const theirs = await tsharkFields(pcapng, { tlsPort: traffic.port, filter: 'http2.headers.method', fields: ['http2.headers.path'] });
  const theirPaths = theirs.flatMap((row) => row[0]!.split(','));
  assert.ok(theirPaths.length >= 1, 'tshark decrypted requests with the embedded keys');
  assert.deepEqual(lines.map((l) => l.type), [...Array(theirPaths.length).fill('request'), 'connection', 'connection', 'identity', 'summary']);
  assert.ok(lines.filter((l) => l.type === 'connection').every((l) => l.decrypted));
  assert.deepEqual(lines.filter((l) => l.type === 'request').map((l) => l.path).sort(), theirPaths.sort());
  const page = readFileSync(html, 'utf8');
  assert.ok(page.includes('system:node:test-node'));
  const pageText = page.replace(/<[^>]*>/g, '');
  for (const p of theirPaths) assert.ok(pageText.includes(p), `request ${p} in the HTML report`);
  assert.ok(page.includes('expires in'), 'the 3-day client certificate is flagged');
});

test('plain HTTP/1.1 and h2c connections are decoded too and read "not TLS"', async (t) => {
  if (!requireOrSkip(t, isRoot(), 'capturing with tcpdump needs root')) return;
  if (!requireOrSkip(t, commandExists('tshark') && commandExists('tcpdump'), 'tshark and tcpdump are needed')) return;
  const h1 = http.createServer((req, res) => res.end(`plain ${req.url}`));
  const h2c = http2.createServer((_req, res) => res.end('h2c'));
  await new Promise<void>((r) => h1.listen(0, '127.0.0.1', r));
  const port = (h1.address() as net.AddressInfo).port;
  h1.close();
  // One port for both, one after the other, so that a single tcpdump filter sees them.
  await new Promise<void>((r) => h2c.listen(port, '127.0.0.1', r));
  const dir = mkdtempSync(path.join(os.tmpdir(), 'gokeylog-plain-'));
  try {
    const capture = await startCapture({ port, file: path.join(dir, 'plain.pcap') });
    try {
      const session = http2.connect(`http://127.0.0.1:${port}`);
      await new Promise<void>((resolve, reject) => {
        const req = session.request({ ':path': '/metrics', 'user-agent': 'prometheus/2.0' });
        req.on('data', () => {}).on('end', resolve).on('error', reject);
      });
      await new Promise<void>((r) => session.close(r));
      await new Promise<void>((r) => h2c.close(() => r()));
      await new Promise<void>((r) => h1.listen(port, '127.0.0.1', r));
      await new Promise<void>((resolve, reject) =>
        http.get({ host: '127.0.0.1', port, path: '/healthz', headers: { 'user-agent': 'probe/1.0', connection: 'close' } }, (res) => res.resume().on('end', resolve)).on('error', reject),
      );
    } finally {
      await capture.stop();
      h1.close();
      h2c.close();
    }
    const run = await runAnalyze([capture.file, '--json']);
    assert.equal(run.code, 0, run.stderr);
    const report = JSON.parse(run.stdout) as JsonReport;
    assert.deepEqual(report.connections.map((c) => [c.decrypted, c.reason]), [[false, 'not TLS'], [false, 'not TLS']]);
    assert.deepEqual(report.requests.map((r) => [r.connectionId, r.method, r.path, r.status, r.userAgent]), [
      [1, 'GET', '/metrics', 200, 'prometheus/2.0'],
      [2, 'GET', '/healthz', 200, 'probe/1.0'],
    ]);
    // tshark finds HTTP/1.1 on any port by its heuristics (h2c on a random port it would need "decode as").
    const theirs = await tsharkFields(capture.file, { filter: 'http.request', fields: ['tcp.stream', 'http.request.uri', 'http.user_agent'] });
    assert.deepEqual(theirs, [['1', '/healthz', 'probe/1.0']]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
