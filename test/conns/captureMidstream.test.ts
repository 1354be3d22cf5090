// capture --midstream: a client connected BEFORE the capture started (its handshake is not in the capture)
// is decrypted by `analyze` from the capture's own DSBs alone. Referees: the client's own request log (the
// paths) and its own key log (the secrets in --keylog); tshark with no options still opens the pcapng and
// decrypts the connection made during the capture exactly as that client logged it.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { startCli } from '../support/cli.js';
import { requireOrSkip } from '../support/env.js';
import { loadFixtures } from '../support/fixtures.js';
import { secretTempDir, testPki } from '../support/pki.js';
import { commandExists, secretFileIn, spawnChecked, startProcess, tsharkFields } from '../support/traffic.js';
import { leftovers, privateCopy, requireProbing } from '../probe/harness.js';
import { runAnalyze } from '../analyze/cli.js';
import { clientFixture, midstreamLines, startApiServer, trafficSecrets } from './harness.js';

const BEFORE = Array.from({ length: 16 }, (_, i) => `/api/v1/namespaces/before/pods?n=${i}`);
const DURING = ['/healthz', '/api/v1/namespaces/during/pods?limit=1'];

/** The request paths of a tlsclient run (its `STATUS PROTO PATH BYTES` lines), in order. */
const pathsOf = (output: string): string[] => output.trim().split('\n').filter(Boolean).map((l) => l.split(' ')[2]!);

test('capture --midstream: analyze of the pcapng alone decrypts the requests a client connected before made after the capture started', async (t) => {
  if (!requireProbing(t)) return;
  if (!requireOrSkip(t, ['tcpdump', 'tshark'].every(commandExists), 'tcpdump and tshark are needed')) return;
  const fixture = loadFixtures({ program: 'tlsserver', arch: 'amd64', mode: 'exe', stripped: true }).at(-1);
  const client = clientFixture(t);
  if (!client || !requireOrSkip(t, fixture !== undefined, 'no tlsserver fixture')) return;
  const pki = await testPki();
  const server = await startApiServer(privateCopy(fixture!), pki);
  const dir = secretTempDir('capture-midstream');
  const pcapng = secretFileIn(dir, 'capture.pcapng');
  const keys = secretFileIn(dir, 'capture.keys');
  const beforeKeyLog = secretFileIn(dir, 'before.keylog');
  const cert = await pki.makeClientCert({ cn: 'connected-before-capture', orgs: ['system:nodes'], days: 30 });
  const { process: before } = await startProcess(client.path, [
    '-url', `https://127.0.0.1:${server.port}/`, '-ca', pki.caCert, '-cert', cert.cert, '-key', cert.key, '-keylog', beforeKeyLog,
    '-n', String(BEFORE.length), '-interval', '1s', '-max-version', '1.3', ...BEFORE.flatMap((p) => ['-path', p]),
  ], { ready: /^(?:200 .*\n){2}/m, timeoutMs: 30_000 });
  let during = '';
  let respondedBefore = 0;
  try {
    respondedBefore = pathsOf(before.stdout()).length;
    const capture = await startCli(['capture', '--pid', String(server.child.pid), '--midstream', '-w', pcapng, '--keylog', keys, '--json'], /gokeylog: capturing on /);
    try {
      for (let i = 0; i < 600 && !/swept the connections opened before/.test(capture.stderr()); i++) await sleep(50);
      assert.match(capture.stderr(), /swept the connections opened before: 1 TLS connection, 2 mid-stream lines written/);
      const duringKeyLog = secretFileIn(dir, 'during.keylog');
      during = (await spawnChecked(client.path, ['-url', `https://127.0.0.1:${server.port}/`, '-ca', pki.caCert, '-cert', cert.cert, '-key', cert.key, '-keylog', duringKeyLog, ...DURING.flatMap((p) => ['-path', p])])).stdout;
      before.child.ref();
      const code = before.child.exitCode ?? (await new Promise<number | null>((resolve) => before.child.once('exit', resolve)));
      assert.equal(code, 0, before.stderr());
    } finally {
      assert.equal(await capture.stop('SIGINT'), 0, capture.stderr());
    }
    assert.deepEqual(leftovers(capture.child.pid!), [], 'no probe left, of either kind');
    const summary = JSON.parse(capture.stdout().toString('utf8').trim().split('\n').at(-1)!) as { ordering: { midstreamLines: number; connectionsOpenedBefore: number } };
    assert.deepEqual([summary.ordering.midstreamLines, summary.ordering.connectionsOpenedBefore], [2, 1]);
  } finally {
    await before.stop();
    await server.stop();
  }

  // --keylog: the same two lines, their secrets those the client itself logged at its handshake.
  const secrets = trafficSecrets(beforeKeyLog);
  const lines = midstreamLines(keys);
  assert.deepEqual(lines.map((l) => l.dir).sort(), ['client', 'server']);
  for (const l of lines) assert.deepEqual([l.secret], l.dir === 'client' ? secrets.client : secrets.server, `${l.dir} secret equals the client's own key log`);

  // analyze, the pcapng alone: the old connection's requests since the capture started are the end of the client's own log.
  const run = await runAnalyze([pcapng, '-o', 'json']);
  assert.equal(run.code, 0, run.stderr);
  const report = JSON.parse(run.stdout) as { connections: { decrypted: boolean; midstream?: { note: string } }[]; requests: { path?: string | null }[] };
  const decrypted = report.requests.map((r) => r.path ?? '').filter((p) => p.startsWith('/api/v1/namespaces/before/'));
  const clientLog = pathsOf(before.stdout());
  assert.equal(clientLog.length, BEFORE.length);
  assert.ok(decrypted.length >= 3 && decrypted.length <= BEFORE.length - respondedBefore, `${decrypted.length} decrypted: ${decrypted.join(' ')}`);
  assert.deepEqual(decrypted, clientLog.slice(-decrypted.length), 'the decrypted paths are the client\'s last requests, in order');
  assert.equal(report.connections.filter((c) => c.midstream?.note.startsWith('joined mid-stream at ')).length, 1);

  // tshark, no options: opens the pcapng (the mid-stream lines are comments to it) and decrypts the new connection as its client logged it.
  const tshark = (await tsharkFields(pcapng, { filter: 'http2.headers.path', fields: ['http2.headers.path'] })).flatMap(([p]) => p!.split(','));
  assert.deepEqual(tshark.sort(), pathsOf(during).sort());
});
