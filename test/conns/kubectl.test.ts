// conns on the real Kubernetes API server (test/support/kube.ts) with Debian sid's kubectl running
// `kubectl get gadgets --watch` (a custom resource: this API server serves apiextensions): a long request, kept open on one HTTP/2 connection, as kubelet and the
// controllers keep theirs. The watch was opened before conns started; events during the sweep make the server
// write on it. Referees: openssl (CN, O, notAfter, SHA-256 fingerprint of the kubectl certificate) and
// `ss -tnp` (kubectl's end of the connection). (It replaces a `kubectl proxy` case on the fixture server: this
// one is the real server and a real long request.)
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { requireOrSkip } from '../support/env.js';
import { kubeControlPlaneBinaries, kubectl, startKubeControlPlane } from '../support/kube.js';
import { secretTempDir } from '../support/pki.js';
import { commandExists, secretFileIn, spawnChecked, startProcess } from '../support/traffic.js';
import { requireProbing } from '../probe/harness.js';
import { opensslFacts, runConns, ssConnections } from './harness.js';

const CN = 'system:node:watcher-1';
const ORGS = ['system:nodes', 'gokeylog:watchers'];

test('Debian kubectl get --watch (one long request, opened before) on the real API server: conns names its certificate and its peer as openssl and ss do', { timeout: 400_000 }, async (t) => {
  if (!requireProbing(t)) return;
  if (!requireOrSkip(t, ['openssl', 'ss'].every(commandExists), 'openssl and ss are needed')) return;
  if (!requireOrSkip(t, kubeControlPlaneBinaries() !== null, 'the real control plane is not built (bash scripts/setup-kube.sh)')) return;
  const cp = await startKubeControlPlane();
  t.after(() => cp.stop());
  // The watched resource: a CRD, and one object of it for the watch's first line.
  const gadget = (name: string): string => {
    const file = secretFileIn(cp.dir, `gadget-${name}.json`);
    writeFileSync(file, JSON.stringify({ apiVersion: 'watch.gokeylog.test/v1', kind: 'Gadget', metadata: { name } }));
    return file;
  };
  const crd = secretFileIn(cp.dir, 'gadget-crd.json');
  writeFileSync(crd, JSON.stringify({
    apiVersion: 'apiextensions.k8s.io/v1', kind: 'CustomResourceDefinition', metadata: { name: 'gadgets.watch.gokeylog.test' },
    spec: { group: 'watch.gokeylog.test', scope: 'Cluster', names: { plural: 'gadgets', kind: 'Gadget' }, versions: [{ name: 'v1', served: true, storage: true, schema: { openAPIV3Schema: { type: 'object' } } }] },
  }));
  const admin = (args: string[]): ReturnType<typeof kubectl> => kubectl(cp, { cert: cp.pki.admin }, args);
  assert.equal((await admin(['create', '-f', crd])).code, 0);
  assert.equal((await admin(['wait', '--for=condition=Established', '--timeout=60s', 'crd/gadgets.watch.gokeylog.test'])).code, 0);
  // Until the new resource is in discovery, creating one may be refused: bounded retries.
  for (let i = 0; ; i++) {
    const made = await admin(['create', '--validate=false', '-f', gadget('first')]);
    if (made.code === 0) break;
    assert.ok(i < 30, made.stderr);
    await sleep(1000);
  }
  const cert = await cp.pki.makeClientCert({ cn: CN, orgs: ORGS, days: 5 });
  const config = cp.kubeconfig({ cert }, 'watcher');
  const home = secretTempDir('kubectl-watch');
  const { process: watch } = await startProcess(cp.binaries.kubectl.path,
    ['--kubeconfig', config, '--cache-dir', `${home}/cache`, 'get', 'gadgets', '--watch'],
    { env: { ...process.env, HOME: home, KUBECONFIG: config }, ready: /^first\s/m, timeoutMs: 120_000 });
  t.after(() => watch.stop());
  // Events on the watched resource while conns sweeps: the server writes each one on the watch connection.
  let writing = true;
  let made = 0;
  const writer = (async () => {
    while (writing) {
      const run = await admin(['create', '--validate=false', '-f', gadget(`during-sweep-${made++}`)]);
      assert.equal(run.code, 0, run.stderr);
      await sleep(300);
    }
  })();
  let run: Awaited<ReturnType<typeof runConns>>;
  try {
    run = await runConns(['--pid', String(cp.apiserver.pid), '--sweep', '20']);
  } finally {
    writing = false;
    await writer;
  }
  assert.match(watch.stdout(), /^during-sweep-0\s/m, 'the watch delivered the events: it was open and carrying them');

  const rows = run.json.connections.filter((r) => r.certificate?.commonName === CN);
  assert.ok(rows.length >= 1, JSON.stringify(run.json.connections.map((r) => [r.status, r.peer, r.certificate?.commonName])));
  // ss (the referee for addresses): every row of this identity is a socket kubectl holds to the server.
  const kubectlSockets = (await ssConnections()).filter((s) => s.pid === watch.child.pid && s.peer === `127.0.0.1:${cp.apiserver.port}`);
  assert.ok(kubectlSockets.length >= 1, 'ss shows kubectl connected to the API server');
  const { stdout: subject } = await spawnChecked('openssl', ['x509', '-in', cert.cert, '-noout', '-subject', '-nameopt', 'RFC2253']);
  const rdns = subject.trim().replace(/^subject=\s*/, '').split(',').map((rdn) => rdn.split('='));
  const fromOpenssl = (type: string): string[] => rdns.filter(([k]) => k === type).map(([, v]) => v!);
  const referee = await opensslFacts(cert.cert);
  for (const row of rows) {
    assert.ok(kubectlSockets.some((s) => s.local === row.peer), `${row.peer} is one of kubectl's sockets per ss: ${kubectlSockets.map((s) => s.local).join(' ')}`);
    assert.deepEqual([row.peerProcess?.pid, row.peerProcess?.comm], [kubectlSockets[0]!.pid, 'kubectl'], 'the peer process as ss names it');
    assert.equal(row.status, 'tls');
    const c = row.certificate!;
    assert.deepEqual([c.commonName, [...c.organizations].sort()], [fromOpenssl('CN')[0], fromOpenssl('O').sort()]);
    assert.deepEqual([c.commonName, c.organizations], [CN, ORGS]);
    assert.equal(c.sha256, referee.sha256);
    assert.equal(c.notAfter, referee.notAfter);
    assert.equal(row.expiring, true, 'five days left is within the default 30');
  }
});
