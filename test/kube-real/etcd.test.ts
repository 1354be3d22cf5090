// The etcd side of the real control plane: etcd (Debian sid, mutual TLS) captured by `gokeylog capture`
// before the API server connects to it. Referees: tshark decrypting the pcapng with no options (the gRPC
// methods), openssl for the API server's etcd client certificate.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { runAnalyze } from '../analyze/cli.js';
import { startCli, type RunningCli } from '../support/cli.js';
import { isRoot, requireOrSkip } from '../support/env.js';
import { kubeControlPlaneBinaries, kubectl, kubePki, startKubeControlPlane } from '../support/kube.js';
import { secretTempDir } from '../support/pki.js';
import { commandExists, secretFileIn, spawnChecked, tsharkFields } from '../support/traffic.js';
import type { AnalyzeReport } from './workload.js';

test('etcd: the API server\'s gRPC calls decoded, as tshark decodes them, under its etcd client certificate', { timeout: 300_000 }, async (t) => {
  if (!requireOrSkip(t, isRoot(), 'capturing needs root (tracefs, tcpdump)')) return;
  if (!requireOrSkip(t, ['tcpdump', 'tshark', 'openssl'].every(commandExists), 'tcpdump, tshark and openssl are needed')) return;
  if (!requireOrSkip(t, kubeControlPlaneBinaries() !== null, 'the real control plane is not built (bash scripts/setup-kube.sh)')) return;
  const pcapng = secretFileIn(secretTempDir('etcd-capture'), 'etcd.pcapng');
  let capture: RunningCli | undefined;
  let etcdPort = 0;
  const cp = await startKubeControlPlane({
    beforeApiserver: async (etcd) => {
      etcdPort = etcd.port;
      capture = await startCli(['capture', '--pid', String(etcd.child.pid), '-w', pcapng], /capturing on/);
    },
  });
  try {
    // Writes and reads that reach etcd: a CRD, then listing it.
    const crd = { apiVersion: 'apiextensions.k8s.io/v1', kind: 'CustomResourceDefinition', metadata: { name: 'gadgets.etcd.gokeylog.test' }, spec: { group: 'etcd.gokeylog.test', scope: 'Cluster', names: { plural: 'gadgets', kind: 'Gadget' }, versions: [{ name: 'v1', served: true, storage: true, schema: { openAPIV3Schema: { type: 'object' } } }] } };
    const file = secretFileIn(cp.dir, 'gadget-crd.json');
    writeFileSync(file, JSON.stringify(crd));
    const run = await kubectl(cp, { cert: cp.pki.admin }, ['create', '-f', file]);
    assert.equal(run.code, 0, run.stderr);
    assert.equal((await kubectl(cp, { cert: cp.pki.admin }, ['get', 'crd'])).code, 0);
  } finally {
    try {
      assert.equal(await capture!.stop('SIGINT'), 0, capture!.stderr());
    } finally {
      await cp.stop();
    }
  }
  const analyzed = await runAnalyze([pcapng, '--json']);
  assert.equal(analyzed.code, 0, analyzed.stderr);
  const report = JSON.parse(analyzed.stdout) as AnalyzeReport;
  const etcdConnections = report.connections.filter((c) => c.decrypted);
  assert.ok(etcdConnections.length > 0, 'the API server\'s connections to etcd were decrypted');

  // The client certificate is the API server's etcd client certificate, byte for byte (openssl's fingerprint).
  const pki = await kubePki();
  const { stdout } = await spawnChecked('openssl', ['x509', '-in', pki.etcdClient.cert, '-noout', '-fingerprint', '-sha256']);
  const fingerprint = stdout.trim().split('=')[1]!.toUpperCase();
  for (const c of etcdConnections) {
    assert.equal(c.clientCertificate?.sha256, fingerprint, `connection ${c.id}: the etcd client certificate`);
    assert.equal(c.clientCertificate?.commonName, 'kube-apiserver-etcd-client');
  }
  // gRPC methods: what tshark decodes with no options, and real etcd services.
  const theirs = await tsharkFields(pcapng, { tlsPort: etcdPort, filter: 'http2.headers.path', fields: ['http2.headers.path'] });
  const ours = report.requests.filter((r) => r.path !== null).map((r) => r.path!);
  assert.deepEqual([...new Set(ours)].sort(), [...new Set(theirs.flatMap(([p]) => p!.split(',')))].sort());
  for (const method of ['/etcdserverpb.KV/Range', '/etcdserverpb.KV/Txn', '/etcdserverpb.Watch/Watch']) {
    assert.ok(ours.includes(method), `${method} was called (${[...new Set(ours)].join(', ')})`);
  }
});
