// The whole path for a connection opened before gokeylog started, for real: a Go tlsserver with a client
// certificate's long-lived HTTP/2 client (a request per second); tcpdump started after the handshake; then
// `gokeylog conns --keylog --json` reads the connection's secrets and identity from the live server;
// `analyze --keylog --conns` of the capture must decrypt the requests made after the capture started — their
// paths equal tshark's on a second, whole capture (with the client's own key log) and the end of the client's
// own request log — and name the client certificate, checked with openssl, as read from the live process.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { loadFixtures, testPki } from '../support/fixtures.js';
import { isRoot, requireOrSkip } from '../support/env.js';
import { cliArgv } from '../support/paths.js';
import { secretTempDir } from '../support/pki.js';
import { commandExists, runProcess, secretFileIn, spawnChecked, startCapture, startProcess, startServer, tsharkFields } from '../support/traffic.js';
import { runAnalyze } from './cli.js';

const CN = 'system:node:before-gokeylog';
const PATHS = Array.from({ length: 12 }, (_, i) => `/api/v1/namespaces/kube-system/pods?n=${i}`);

interface Report {
  connections: Array<{ decrypted: boolean; reason?: string; identityFrom?: string; clientCertificate?: { commonName: string; sha256: string }; midstream?: { note: string } }>;
  requests: Array<{ path?: string | null; status?: number | null }>;
  identities: Array<{ user: string; identityFrom: string[] }>;
}

test('conns --keylog --json, a capture started after the handshake, and analyze: the client log, tshark and openssl agree', async (t) => {
  const [server] = loadFixtures({ program: 'tlsserver', arch: 'amd64', mode: 'exe', stripped: true }).slice(-1);
  const [client] = loadFixtures({ program: 'tlsclient', arch: 'amd64', mode: 'exe', stripped: false }).slice(-1);
  if (!requireOrSkip(t, isRoot(), 'conns probes and tcpdump need root')) return;
  if (!requireOrSkip(t, commandExists('tshark') && commandExists('tcpdump') && commandExists('openssl'), 'tshark, tcpdump and openssl are needed')) return;
  if (!requireOrSkip(t, server !== undefined && client !== undefined, 'Go fixtures not built (npm run setup)')) return;
  if (!requireOrSkip(t, spawnSync(client!.path, ['-h'], { encoding: 'utf8' }).stderr.includes('-interval'), 'the tlsclient fixture predates -interval (rerun scripts/setup.sh)')) return;

  const pki = await testPki();
  const cert = await pki.makeClientCert({ cn: CN, orgs: ['system:nodes'], days: 2 });
  const dir = secretTempDir('conns-midstream');
  const clientKeyLog = secretFileIn(dir, 'client.keylog');
  const keys = secretFileIn(dir, 'live.keys');
  const target = await startServer(server!.path, ['-addr', '127.0.0.1:0', '-cert', pki.serverCert, '-key', pki.serverKey, '-client-ca', pki.caCert]);
  let connsJson = '';
  let clientLog: string[] = [];
  const whole = await startCapture({ port: target.port, file: secretFileIn(dir, 'whole.pcap') });
  let joined: Awaited<ReturnType<typeof startCapture>> | undefined;
  try {
    const args = ['-url', `https://127.0.0.1:${target.port}/`, '-ca', pki.caCert, '-cert', cert.cert, '-key', cert.key, '-keylog', clientKeyLog, '-n', String(PATHS.length), '-interval', '1s'];
    const { process: tlsclient } = await startProcess(client!.path, [...args, ...PATHS.flatMap((p) => ['-path', p])], { ready: /^(?:200 .*\n){2}/m, timeoutMs: 30_000 });
    joined = await startCapture({ port: target.port, file: secretFileIn(dir, 'joined.pcap') });
    const conns = await runProcess(process.execPath, [...cliArgv(), 'conns', '--pid', String(target.child.pid), '--keylog', keys, '--json'], { timeoutMs: 60_000 });
    assert.equal(conns.code, 0, conns.stderr);
    connsJson = conns.stdout;
    tlsclient.child.ref();
    const code = tlsclient.child.exitCode ?? (await new Promise<number | null>((resolve) => tlsclient.child.once('exit', resolve)));
    assert.equal(code, 0, tlsclient.stderr());
    clientLog = tlsclient.stdout().trim().split('\n');
  } finally {
    await joined?.stop();
    await whole.stop();
    await target.stop();
  }
  const connsFile = path.join(dir, 'conns.json');
  writeFileSync(connsFile, connsJson);
  assert.match(readFileSync(keys, 'utf8'), /^# GOKEYLOG_MIDSTREAM v=1 dir=client /m);

  // Referee: tshark on the whole capture with the client's own key log, from the joined capture's first segment on.
  const first = (await tsharkFields(joined!.file, { fields: ['tcp.srcport', 'tcp.seq_raw'], filter: `tcp.dstport == ${target.port}` }))[0]!;
  const tsharkPaths = (await tsharkFields(whole.file, { keyLog: clientKeyLog, tlsPort: target.port, filter: `tcp.srcport == ${first[0]} && tcp.seq_raw >= ${first[1]} && http2.headers.path`, fields: ['http2.headers.path'] })).flatMap((r) => r[0]!.split(','));
  assert.ok(tsharkPaths.length >= 3, tsharkPaths.join(' '));
  assert.deepEqual(tsharkPaths, clientLog.slice(-tsharkPaths.length).map((l) => l.split(' ')[2]));

  const run = await runAnalyze([joined!.file, '--keylog', keys, '--conns', connsFile, '-o', 'json']);
  assert.equal(run.code, 0, run.stderr);
  const report = JSON.parse(run.stdout) as Report;
  const c = report.connections[0]!;
  assert.equal(c.decrypted, true, c.reason);
  assert.match(c.midstream!.note, /^joined mid-stream at \S+Z; \d+ header fields? not recoverable$/);
  const fingerprint = (await spawnChecked('openssl', ['x509', '-in', cert.cert, '-noout', '-fingerprint', '-sha256'])).stdout.trim().split('=')[1];
  assert.deepEqual([c.clientCertificate?.commonName, c.clientCertificate?.sha256, c.identityFrom], [CN, fingerprint, 'live process']);
  assert.deepEqual(report.identities.find((i) => i.user === CN)?.identityFrom, ['live process']);
  assert.deepEqual(report.requests.filter((r) => r.path).map((r) => r.path), tsharkPaths);
});
