// Real Kubernetes-shaped gRPC: Debian's stripped etcd with client-certificate auth, called by etcdctl.
// etcd writes no key log, so its keys come from gokeylog's own probe; tshark on the same capture and keys
// is the referee for the gRPC paths, and etcd's documented status codes for the calls the test made.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { formatKeyLogLine } from '../../src/keylog/index.js';
import { startKeyCapture, type KeyEvent } from '../../src/probe/index.js';
import { isRoot, requireOrSkip } from '../support/env.js';
import { loadRealBinaries, testPki } from '../support/fixtures.js';
import { secretTempDir } from '../support/pki.js';
import { runEtcdctl, startEtcd } from '../support/real.js';
import { commandExists, startCapture, tsharkFields } from '../support/traffic.js';
import { runAnalyze } from './cli.js';

const hostArch = process.arch === 'arm64' ? 'arm64' : 'amd64';

interface Report {
  connections: Array<{ decrypted: boolean; reason?: string; clientCertificate?: { commonName: string; organizations: string[] } }>;
  requests: Array<{ method: string; path: string; status: number; contentType: string; grpcStatus?: number; grpcMessage?: string; kube: { isResourceRequest: boolean } }>;
}

test('etcd gRPC over TLS 1.3 with probed keys: paths equal tshark, gRPC status and the client identity', async (t) => {
  const [etcd] = loadRealBinaries({ kind: 'etcd', arch: hostArch });
  const [etcdctl] = loadRealBinaries({ kind: 'etcdctl', arch: hostArch });
  if (!requireOrSkip(t, isRoot() && existsSync('/sys/kernel/tracing/uprobe_events'), 'probing and capturing need root and tracefs')) return;
  if (!requireOrSkip(t, commandExists('tshark') && commandExists('tcpdump'), 'tshark and tcpdump are needed')) return;
  if (!requireOrSkip(t, etcd !== undefined && etcdctl !== undefined, 'no Debian etcd (run scripts/setup-real.sh)')) return;
  const pki = await testPki();
  const dir = secretTempDir('analyze-etcd');
  const server = await startEtcd({ etcd: etcd!, pki });
  const keys: KeyEvent[] = [];
  const rejects: string[] = [];
  let probeStats = '';
  let pcap: string;
  try {
    // The probe first: every handshake the capture then sees has its keys logged while the probe listens.
    const probe = await startKeyCapture({ pids: [server.child.pid!], exes: [], processes: [] });
    probe.on('key', (e) => keys.push(e));
    probe.on('reject', (why: string) => rejects.push(why));
    const capture = await startCapture({ port: server.port, file: path.join(dir, 'etcd.pcap') });
    pcap = capture.file;
    try {
      await runEtcdctl({ etcdctl: etcdctl!, endpoint: server.endpoint, pki, args: ['put', '/registry/pods/default/web', 'v1'] });
      await runEtcdctl({ etcdctl: etcdctl!, endpoint: server.endpoint, pki, args: ['get', '/registry/pods/default/web'] });
      // A lease that does not exist: etcd answers gRPC NotFound (5), "etcdserver: requested lease not found".
      await assert.rejects(runEtcdctl({ etcdctl: etcdctl!, endpoint: server.endpoint, pki, args: ['lease', 'revoke', '1234abcd'] }));
      // One more call, so that segments tcpdump may still be missing when it stops are not the revoke's.
      await runEtcdctl({ etcdctl: etcdctl!, endpoint: server.endpoint, pki, args: ['get', '/registry/last'] });
    } finally {
      await capture.stop();
      probeStats = JSON.stringify({ ...(await probe.stop()), rejectReasons: rejects });
    }
  } finally {
    await server.stop();
  }
  const keyLog = path.join(dir, 'etcd.keylog');
  writeFileSync(keyLog, keys.map((k) => `${formatKeyLogLine(k)}\n`).join(''), { mode: 0o600 });

  const run = await runAnalyze([pcap, '--keylog', keyLog, '--json']);
  assert.equal(run.code, 0, run.stderr);
  const report = JSON.parse(run.stdout) as Report;
  assert.ok(report.connections.length >= 3);
  for (const c of report.connections) {
    // On a failure, say enough to tell a lost probe hit from a connection the probe never saw.
    assert.equal(c.decrypted, true, `${c.reason}: ${JSON.stringify(c)}; ${keys.length} keys, probe ${probeStats}`);
    assert.ok(c.reason === undefined || c.reason === 'stream incomplete (lost segments)', c.reason);
    assert.equal(c.clientCertificate?.commonName, 'system:node:test-node');
    assert.deepEqual(c.clientCertificate?.organizations, ['system:nodes']);
  }
  const theirs = await tsharkFields(pcap, { keyLog, tlsPort: server.port, filter: 'http2.headers.method', fields: ['http2.headers.path'] });
  const ours = report.requests.map((r) => r.path);
  assert.deepEqual([...ours].sort(), theirs.flatMap((row) => row[0]!.split(',')).sort());

  const byPath = (p: string) => report.requests.find((r) => r.path === p);
  for (const p of ['/etcdserverpb.KV/Put', '/etcdserverpb.KV/Range']) {
    const r = byPath(p);
    assert.ok(r, `${p} decoded (saw ${ours.join(' ')})`);
    assert.deepEqual([r.method, r.status, r.grpcStatus, r.kube.isResourceRequest], ['POST', 200, 0, false]);
    assert.match(r.contentType, /^application\/grpc/);
  }
  const revoke = byPath('/etcdserverpb.Lease/LeaseRevoke');
  assert.ok(revoke, `LeaseRevoke decoded (saw ${ours.join(' ')})`);
  assert.equal(revoke.grpcStatus, 5);
  assert.match(revoke.grpcMessage ?? '', /lease not found/);
});
