// The real control plane (Debian sid etcd and kubectl, a Kubernetes API server built from Debian's
// k8s.io sources, a client-go node client) captured by `gokeylog capture` and read by `gokeylog analyze`.
// Referees: the API server's own audit log for every request and identity, tshark for the pcapng.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runAnalyze } from '../analyze/cli.js';
import { startCli } from '../support/cli.js';
import { isRoot, requireOrSkip } from '../support/env.js';
import { kubeControlPlaneBinaries, kubectl, startKubeControlPlane, type KubeControlPlane } from '../support/kube.js';
import { readAuditLog } from '../support/kubeAudit.js';
import { commandExists, secretFileIn, tsharkFields, tsharkPayloadBytes } from '../support/traffic.js';
import { compareWithAuditLog, runWorkload, type AnalyzeReport } from './workload.js';

const NODE_CLIENT_GETS = 300;

function preconditions(t: import('node:test').TestContext): boolean {
  return (
    requireOrSkip(t, isRoot(), 'capturing needs root (tracefs, tcpdump)') &&
    requireOrSkip(t, commandExists('tcpdump') && commandExists('tshark') && commandExists('curl'), 'tcpdump, tshark and curl are needed') &&
    requireOrSkip(t, kubeControlPlaneBinaries() !== null, 'the real control plane is not built (bash scripts/setup-kube.sh)')
  );
}

/** Capture the API server while the workload runs; analyze the pcapng (its embedded keys only). */
async function captureWorkload(cp: KubeControlPlane): Promise<{ pcapng: string; report: AnalyzeReport; stdout: string }> {
  const pcapng = secretFileIn(cp.dir, 'apiserver.pcapng');
  // No -f: the default, the API server's own TCP traffic (its port and its connections to etcd).
  const capture = await startCli(['capture', '--pid', String(cp.apiserver.pid), '-w', pcapng], /capturing on/);
  try {
    await runWorkload(cp, { nodeClientGets: NODE_CLIENT_GETS });
  } finally {
    assert.equal(await capture.stop('SIGINT'), 0, capture.stderr());
  }
  const run = await runAnalyze([pcapng, '--json']);
  assert.equal(run.code, 0, run.stderr);
  return { pcapng, report: JSON.parse(run.stdout) as AnalyzeReport, stdout: run.stdout };
}

test('real API server: every request analyze decodes is in the audit log and vice versa, with equal who/what/answer', { timeout: 600_000 }, async (t) => {
  if (!preconditions(t)) return;
  const cp = await startKubeControlPlane();
  let result: Awaited<ReturnType<typeof captureWorkload>>;
  try {
    result = await captureWorkload(cp);
  } finally {
    await cp.stop();
  }
  const { report, stdout, pcapng } = result;
  const pairs = compareWithAuditLog(report, readAuditLog(cp.apiserver.auditLog), cp.apiserver.port);

  const decrypted = report.connections.filter((c) => c.decrypted).length;
  t.diagnostic(`${pairs.length} requests paired with their audit events; ${report.connections.length} connections, ${decrypted} decrypted`);
  // The workload's breadth, as the server recorded it.
  const verbs = new Set(pairs.map(([, e]) => `${e.verb}${e.objectRef?.subresource ? `/${e.objectRef.subresource}` : ''}`));
  for (const verb of ['create', 'get', 'list', 'watch', 'update', 'patch', 'patch/status', 'delete', 'deletecollection']) {
    assert.ok(verbs.has(verb), `the workload made a ${verb} request (${[...verbs].join(', ')})`);
  }
  const codes = new Set(pairs.map(([, e]) => e.responseStatus?.code));
  for (const code of [200, 201, 401, 404]) assert.ok(codes.has(code), `some request was answered ${code}`);
  assert.ok(report.requests.some((r) => r.contentEncoding === 'gzip' && r.status === 200), 'some response was gzip-encoded');
  const protocols = new Set(report.connections.map((c) => `${c.tlsVersion} ${c.protocol}`));
  assert.ok(protocols.has('TLS 1.2 h2') && protocols.has('TLS 1.3 http/1.1') && protocols.has('TLS 1.3 h2'), [...protocols].join(', '));

  // The node client: all its requests on one connection, hundreds of them.
  const nodeConnections = new Set(pairs.filter(([r]) => r.userAgent?.startsWith('gokeylog-nodeclient/')).map(([r]) => r.connectionId));
  assert.equal(nodeConnections.size, 1, 'the node client used one connection');
  assert.ok(pairs.filter(([r]) => nodeConnections.has(r.connectionId)).length > 300);

  // Identities, and the controller manager's certificate that expires in 3 days.
  const cm = report.identities.find((i) => i.user === 'system:kube-controller-manager');
  assert.ok(cm && cm.expiringSoon && cm.daysLeft <= 3, JSON.stringify(cm));
  // The bearer token never appears in analyze's output.
  assert.ok(!stdout.includes(cp.pki.token.token.split('.')[1]!), 'the token is not printed');

  // Only the API server's connections; bytes each way as tshark counts them, decrypted or not.
  const payload = await tsharkPayloadBytes(pcapng);
  for (const c of report.connections) {
    // (A connection joined mid-stream has its roles guessed: either end may be the server's port.)
    const ends = [c.client.port, c.server.port];
    assert.ok(ends.includes(cp.apiserver.port) || ends.includes(cp.etcd.port), `connection ${c.id} (${ends.join(' ↔ ')}) is the API server's`);
    const client = `${c.client.ip}:${c.client.port}`;
    const server = `${c.server.ip}:${c.server.port}`;
    const theirs = [payload.get(`${client}>${server}`) ?? 0, payload.get(`${server}>${client}`) ?? 0];
    if (c.reason === 'handshake not captured') {
      // Joined mid-stream: reassembly starts at the first whole segment it can place; tshark counts every one.
      assert.ok(c.bytesToServer <= theirs[0]! && c.bytesToClient <= theirs[1]! && c.bytesToServer + c.bytesToClient > 0, `connection ${c.id}: bytes ${c.bytesToServer}/${c.bytesToClient} of ${theirs.join('/')}`);
    } else {
      assert.deepEqual([c.bytesToServer, c.bytesToClient], theirs, `connection ${c.id}: bytes`);
    }
  }

  // tshark decrypts the pcapng with no options and sees the same HTTP/2 requests.
  const theirs = await tsharkFields(pcapng, { tlsPort: cp.apiserver.port, filter: 'http2.headers.method', fields: ['http2.headers.method', 'http2.headers.path'] });
  const ours = report.requests.filter((r) => r.path !== null && report.connections.find((c) => c.id === r.connectionId)?.protocol === 'h2');
  // One row per packet: a packet holding several HEADERS frames lists their fields comma-separated.
  const theirRequests = theirs.flatMap(([m, p]) => {
    const methods = m!.split(',');
    const paths = p!.split(',');
    return methods.map((method, i) => `${method} ${paths[i]}`);
  });
  assert.equal(theirRequests.length, ours.length, 'tshark decodes as many HTTP/2 requests');
  assert.deepEqual(theirRequests.sort(), ours.map((r) => `${r.method} ${r.path}`).sort());
});



test('the unmodified upstream apiextensions-apiserver: kubectl --raw as admin and as the controller manager, against its audit log', { timeout: 600_000 }, async (t) => {
  if (!preconditions(t)) return;
  const cp = await startKubeControlPlane({ upstream: true });
  const pcapng = secretFileIn(cp.dir, 'upstream.pcapng');
  let stdout: string;
  try {
    const capture = await startCli(['capture', '--pid', String(cp.apiserver.pid), '-w', pcapng], /capturing on/);
    try {
      const admin = { cert: cp.pki.admin };
      // No /apis discovery upstream (kube-apiserver's aggregator serves it): --raw paths.
      for (const p of ['/apis/apiextensions.k8s.io/v1/customresourcedefinitions', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions?fieldSelector=metadata.name%3Dnone', '/version']) {
        const run = await kubectl(cp, admin, ['get', '--raw', p]);
        assert.equal(run.code, 0, run.stderr);
      }
      // Authorization is delegated to a SubjectAccessReview nobody serves: anyone outside system:masters fails.
      const cm = await kubectl(cp, { cert: cp.pki.controllerManager }, ['get', '--raw', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions']);
      assert.notEqual(cm.code, 0);
      assert.equal((await kubectl(cp, admin, ['get', '--raw', '/healthz'])).code, 0);
    } finally {
      assert.equal(await capture.stop('SIGINT'), 0, capture.stderr());
    }
    const run = await runAnalyze([pcapng, '--json']);
    assert.equal(run.code, 0, run.stderr);
    stdout = run.stdout;
  } finally {
    await cp.stop();
  }
  const report = JSON.parse(stdout) as AnalyzeReport;
  const pairs = compareWithAuditLog(report, readAuditLog(cp.apiserver.auditLog), cp.apiserver.port);
  assert.ok(pairs.some(([r, e]) => r.kube.name === 'none' && e.objectRef?.name === 'none' && e.verb === 'list'), 'a fieldSelector list names its object');
  assert.ok(pairs.some(([r]) => r.user === 'system:kube-controller-manager'), 'the controller manager\'s request is there');
  const theirs = await tsharkFields(pcapng, { tlsPort: cp.apiserver.port, filter: 'http2.headers.method', fields: ['http2.headers.path'] });
  assert.deepEqual(theirs.flatMap(([p]) => p!.split(',')).sort(), report.requests.filter((r) => r.path !== null).map((r) => r.path).sort());
});
