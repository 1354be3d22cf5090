// conns on a real, stripped program: Debian's etcd with client-certificate auth, watched by Debian's etcdctl
// over one long-lived gRPC (HTTP/2) connection opened before conns starts.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { requireOrSkip } from '../support/env.js';
import { loadRealBinaries } from '../support/fixtures.js';
import { testPki } from '../support/pki.js';
import { runEtcdctl, startEtcd } from '../support/real.js';
import { startProcess } from '../support/traffic.js';
import { privateCopy, requireProbing } from '../probe/harness.js';
import { opensslFacts, runConns, ssConnections } from './harness.js';

test('etcdctl watch against Debian etcd (client-cert auth): conns lists the watcher with its certificate and peer, as openssl and ss see them', async (t) => {
  if (!requireProbing(t)) return;
  const [etcdBinary] = loadRealBinaries({ kind: 'etcd', arch: 'amd64' });
  const [etcdctl] = loadRealBinaries({ kind: 'etcdctl', arch: 'amd64' });
  if (!requireOrSkip(t, etcdBinary !== undefined && etcdctl !== undefined, 'no Debian etcd/etcdctl (run scripts/setup-real.sh)')) return;
  const pki = await testPki();
  const etcd = await startEtcd({ etcd: privateCopy(etcdBinary!), pki });
  const watcherCert = await pki.makeClientCert({ cn: 'kube-apiserver-etcd-client', orgs: ['system:masters', 'etcd-watchers'], days: 6 });
  // Writes from other (short-lived) etcdctl processes: each is an event the server sends down the watch.
  let writes = 0;
  let writing = true;
  const writer = (async () => {
    while (writing) {
      await runEtcdctl({ etcdctl: etcdctl!, endpoint: etcd.endpoint, pki, args: ['put', `/registry/pods/default/p${writes++}`, 'v'] });
      await sleep(300);
    }
  })();
  let watcher: Awaited<ReturnType<typeof startProcess>>['process'] | undefined;
  // One hook, in order: the writer ends before etcd stops (a put in flight would fail), then the watcher, then etcd.
  t.after(async () => {
    writing = false;
    try {
      await writer;
    } finally {
      await watcher?.stop();
      await etcd.stop();
    }
  });
  ({ process: watcher } = await startProcess(etcdctl!.path, [
    '--endpoints', etcd.endpoint, '--cacert', pki.caCert, '--cert', watcherCert.cert, '--key', watcherCert.key, 'watch', '--prefix', '/registry/',
  ], { env: { ...process.env, ETCDCTL_API: '3' }, ready: /^PUT$/m }));

  const run = await runConns(['--pid', String(etcd.child.pid), '--sweep', '5']);
  const rows = run.json.connections.filter((r) => r.certificate?.commonName === 'kube-apiserver-etcd-client');
  assert.equal(rows.length, 1, JSON.stringify(run.json.connections.map((r) => [r.status, r.peer, r.certificate?.commonName])));
  const row = rows[0]!;
  const referee = await opensslFacts(watcherCert.cert);
  const watcherSocket = (await ssConnections()).find((s) => s.pid === watcher.child.pid && s.peer === `127.0.0.1:${etcd.port}`);
  assert.ok(watcherSocket, 'ss shows the watcher connected');
  assert.equal(row.peer, watcherSocket!.local, 'the peer address ss -tnp shows');
  assert.equal(row.peerProcess?.pid, watcher.child.pid);
  assert.equal(row.peerProcess?.comm, 'etcdctl');
  assert.equal(row.side, 'server');
  assert.equal(row.tlsVersion, 'TLS 1.3');
  assert.equal(row.alpn, 'h2');
  assert.deepEqual(row.certificate!.organizations, ['system:masters', 'etcd-watchers']);
  assert.equal(row.certificate!.sha256, referee.sha256);
  assert.equal(row.certificate!.notAfter, referee.notAfter);
  assert.equal(run.json.processes[0]!.refused, 0, `no Conn of the real etcd was refused: ${JSON.stringify(run.json.processes[0])}`);
  assert.equal(run.json.processes[0]!.layout, 'go1.19', 'Debian etcd is built by Go 1.19: its own table');
  assert.ok(writes > 0);
});
