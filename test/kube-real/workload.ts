// A real workload against the real control plane (CRDs and custom resources through every verb, kubectl
// wait, 404, 401, a bearer token, anonymous, HTTP/1.1, TLS 1.2, hundreds of GETs on one HTTP/2 connection),
// and the comparison of analyze's report with the API server's audit log.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { kubectl, startNodeClient, type KubeControlPlane, type KubeCredential } from '../support/kube.js';
import { credentialIdOf, CREDENTIAL_ID, type AuditEvent } from '../support/kubeAudit.js';
import { spawnChecked } from '../support/traffic.js';

export const GROUP = 'gokeylog.test';
export const WIDGETS = `/apis/${GROUP}/v1/namespaces/default/widgets`;
export const NODE_CLIENT_UA = 'gokeylog-nodeclient/1.0 (linux/amd64) client-go';

const CRD = {
  apiVersion: 'apiextensions.k8s.io/v1',
  kind: 'CustomResourceDefinition',
  metadata: { name: `widgets.${GROUP}` },
  spec: {
    group: GROUP,
    scope: 'Namespaced',
    names: { plural: 'widgets', singular: 'widget', kind: 'Widget', listKind: 'WidgetList' },
    versions: [{
      name: 'v1', served: true, storage: true, subresources: { status: {} },
      schema: { openAPIV3Schema: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } },
    }],
  },
};

const widget = (name: string, size: number): object => ({ apiVersion: `${GROUP}/v1`, kind: 'Widget', metadata: { name, namespace: 'default' }, spec: { size } });

/** A kubectl run that must succeed. */
async function ok(cp: KubeControlPlane, credential: KubeCredential, args: string[]): Promise<string> {
  const run = await kubectl(cp, credential, args);
  assert.equal(run.code, 0, `kubectl ${args.join(' ')}: ${run.stderr.slice(-800)}`);
  return run.stdout;
}

/** curl with the cluster CA, optionally a client certificate or token, against the control plane. */
async function curl(cp: KubeControlPlane, credential: KubeCredential, urlPath: string, extra: string[] = []): Promise<string> {
  const args = ['-sS', '--cacert', cp.pki.caCert, '-o', '/dev/null', '-w', '%{http_code}', ...extra];
  if (credential !== 'anonymous' && 'cert' in credential) args.push('--cert', credential.cert.cert, '--key', credential.cert.key);
  if (credential !== 'anonymous' && 'token' in credential) args.push('-H', `Authorization: Bearer ${credential.token}`);
  const { stdout } = await spawnChecked('curl', [...args, `${cp.apiserver.url}${urlPath}`]);
  return stdout;
}

/**
 * Everything a cluster's clients do, as the clients themselves do it. Returns the number of GETs the node
 * client made on its one connection.
 */
export async function runWorkload(cp: KubeControlPlane, options: { nodeClientGets: number }): Promise<void> {
  const { pki } = cp;
  const admin = { cert: pki.admin };
  const file = (name: string, object: object): string => {
    const f = path.join(cp.dir, name);
    writeFileSync(f, JSON.stringify(object), { mode: 0o600 });
    return f;
  };
  await ok(cp, admin, ['create', '-f', file('crd.json', CRD)]);
  // kubectl wait lists and watches with fieldSelector=metadata.name=…
  await ok(cp, admin, ['wait', '--for=condition=Established', `crd/widgets.${GROUP}`, '--timeout=60s']);
  // Standalone, the server publishes no OpenAPI for custom resources (kube-apiserver's aggregator does):
  // kubectl's client-side validation needs it, so it is off for them.
  await ok(cp, admin, ['create', '--validate=false', '-f', file('a.json', widget('a', 1))]);
  await ok(cp, admin, ['create', '--validate=false', '-f', file('b.json', widget('b', 1))]);
  // Past the API server's 128 KiB gzip threshold: lists of widgets come back gzip-encoded.
  await ok(cp, admin, ['create', '--validate=false', '-f', file('big.json', { ...widget('big', 1), data: 'x'.repeat(200_000) })]);
  await ok(cp, admin, ['get', 'widgets']);
  const a = JSON.parse(await ok(cp, admin, ['get', 'widget', 'a', '-o', 'json'])) as { spec: { size: number } };
  a.spec.size = 3;
  await ok(cp, admin, ['replace', '--validate=false', '-f', file('a-update.json', a)]);
  await ok(cp, admin, ['patch', 'widget', 'a', '--type=merge', '-p', '{"spec":{"size":4}}']);
  await ok(cp, admin, ['patch', 'widget', 'a', '--subresource=status', '--type=merge', '-p', '{"status":{"ready":true}}']);
  const missing = await kubectl(cp, admin, ['get', 'widget', 'absent']);
  assert.notEqual(missing.code, 0, 'a missing widget is an error');
  await ok(cp, admin, ['delete', 'widget', 'b']);

  // The controller manager (certificate expiring in 3 days) lists across namespaces; the impostor (the admin's
  // subject from an untrusted CA) is refused with 401.
  await ok(cp, { cert: pki.controllerManager }, ['get', 'widgets', '--all-namespaces']);
  const impostor = await kubectl(cp, { cert: pki.impostor }, ['get', 'widgets']);
  assert.notEqual(impostor.code, 0, `the impostor must be refused: ${impostor.stdout}`);

  assert.equal(await curl(cp, { token: pki.token.token }, WIDGETS, ['--http2']), cp.apiserver.upstream ? '401' : '200');
  await curl(cp, 'anonymous', '/healthz');
  assert.equal(await curl(cp, admin, `${WIDGETS}/a`, ['--http1.1']), '200');
  assert.equal(await curl(cp, admin, `${WIDGETS}?limit=1`, ['--tlsv1.2', '--tls-max', '1.2', '--ciphers', 'ECDHE-ECDSA-AES128-GCM-SHA256']), '200');
  assert.equal(await curl(cp, admin, WIDGETS, ['--tlsv1.2', '--tls-max', '1.2', '--ciphers', 'ECDHE-ECDSA-CHACHA20-POLY1305', '--compressed']), '200');

  // The node client: informers (LIST + WATCH) and GETs, all on one HTTP/2 connection.
  const node = await startNodeClient(cp, {
    watch: [`${GROUP}/v1/widgets`, 'apiextensions.k8s.io/v1/customresourcedefinitions'],
    get: `${GROUP}/v1/widgets/default/a`,
    gets: options.nodeClientGets,
    intervalMs: 5,
    userAgent: NODE_CLIENT_UA,
  });
  try {
    for (let i = 0; i < 2400 && !/^DONE$/m.test(node.stdout()); i++) await new Promise((r) => setTimeout(r, 50));
    assert.match(node.stdout(), /^DONE$/m, 'the node client made its GETs');
  } finally {
    await node.stop();
  }
  // deletecollection last, and one more request after it, so that segments tcpdump may still miss when it
  // stops are not those of a request under test.
  await ok(cp, admin, ['delete', '--raw', WIDGETS]);
  await ok(cp, admin, ['get', '--raw', '/version']);
}

/** A request of `analyze --json`, with the connection it came on. */
export interface ReportRequest {
  time: string;
  connectionId: number;
  method: string;
  path: string;
  status: number | null;
  userAgent: string | null;
  contentEncoding?: string;
  complete: boolean;
  user: string | null;
  groups: string[] | null;
  credential: { kind: string; key: string; credentialId: string | null } | null;
  kube: { verb: string; apiGroup?: string; apiVersion?: string; resource?: string; subresource?: string; namespace?: string; name?: string; isResourceRequest: boolean };
}

export interface ReportConnection {
  id: number;
  client: { ip: string; port: number };
  server: { ip: string; port: number };
  decrypted: boolean;
  reason?: string;
  tlsVersion: string | null;
  protocol: string | null;
  bytesToServer: number;
  bytesToClient: number;
  clientCertificate?: { commonName: string | null; organizations: string[]; sha256: string; issuer: string };
}

export interface AnalyzeReport {
  connections: ReportConnection[];
  requests: ReportRequest[];
  identities: Array<{ user: string; groups: string[]; daysLeft: number; expiringSoon: boolean; certificateSha256: string }>;
  warnings: string[];
}

/** The user agents of the workload's clients, whose connections all open after the capture started. */
const OUR_CLIENTS = /^(kubectl\/|curl\/|gokeylog-nodeclient\/)/;

/**
 * Every request analyze reports has its audit event, and every audit event of the workload's clients has its
 * request; each pair agrees on user, groups, credential id, verb, object, status, user agent and source address.
 * Requests are paired in order within (method, requestURI, user agent). Returns the pairs.
 */
export function compareWithAuditLog(report: AnalyzeReport, events: AuditEvent[], apiserverPort: number): Array<[ReportRequest, AuditEvent]> {
  const connections = new Map(report.connections.map((c) => [c.id, c]));
  // The API server's own requests to etcd are in the capture too; the audit log records what it serves.
  const requests = report.requests.filter((r) => connections.get(r.connectionId)?.server.port === apiserverPort);
  const key = (method: string, uri: string, ua: string | null | undefined): string => `${method} ${uri} ${ua ?? ''}`;
  const pending = new Map<string, AuditEvent[]>();
  const firstRequest = requests[0]?.time ?? '';
  const lastRequest = requests.at(-1)?.time ?? '';
  for (const e of events) {
    const method = auditMethod(e);
    const k = key(method, e.requestURI, e.userAgent);
    let list = pending.get(k);
    if (!list) pending.set(k, (list = []));
    list.push(e);
  }
  const pairs: Array<[ReportRequest, AuditEvent]> = [];
  for (const r of requests) {
    const list = pending.get(key(r.method, r.path, r.userAgent));
    const event = list?.shift();
    assert.ok(event, `analyze's ${r.method} ${r.path} (${r.userAgent}) has an audit event`);
    pairs.push([r, event]);
  }
  // The other way: each audit event of our clients between the first and the last decoded request was decoded
  // (the capture starts before the workload; tcpdump may miss the very last segments when it stops).
  const within = (e: AuditEvent): boolean => e.requestReceivedTimestamp.slice(0, 23) >= firstRequest.slice(0, 23) && e.requestReceivedTimestamp.slice(0, 23) <= lastRequest.slice(0, 23);
  const unmatched = [...pending.values()].flat().filter((e) => OUR_CLIENTS.test(e.userAgent ?? '') && within(e));
  assert.deepEqual(unmatched.map((e) => `${e.verb} ${e.requestURI} ${e.userAgent}`), [], 'every audit event of the workload was decoded by analyze');

  for (const [r, e] of pairs) {
    const what = `${r.method} ${r.path}`;
    const c = connections.get(r.connectionId)!;
    assert.equal(r.kube.verb, e.verb, `${what}: verb`);
    const o = e.objectRef ?? {};
    const ours: Partial<ReportRequest['kube']> = r.kube.isResourceRequest ? r.kube : {};
    assert.deepEqual(
      { apiGroup: ours.apiGroup || undefined, apiVersion: ours.apiVersion, resource: ours.resource, subresource: ours.subresource, namespace: ours.namespace, name: ours.name },
      { apiGroup: o.apiGroup, apiVersion: o.apiVersion, resource: o.resource, subresource: o.subresource, namespace: o.namespace, name: o.name },
      `${what}: objectRef`,
    );
    // A watch still open when the capture ended has only ResponseStarted (200) in the audit log.
    assert.equal(r.status, e.responseStatus?.code ?? null, `${what}: status`);
    assert.equal(r.userAgent, e.userAgent ?? null, `${what}: user agent`);
    assert.deepEqual([c.client.ip], e.sourceIPs, `${what}: source address`);
    const cert = c.clientCertificate;
    const credential = e.user.extra?.[CREDENTIAL_ID]?.[0];
    // The server adds system:authenticated to every authenticated user; analyze reports what the credential says.
    const groups = (list: string[] | null | undefined): string[] => (list ?? []).filter((g) => g !== 'system:authenticated').sort();
    if (e.responseStatus?.code === 401) {
      // Not authenticated: the server names nobody; analyze marks the credential rejected (the identity model's part).
    } else if (credential?.startsWith('X509SHA256=')) {
      // The server authenticated the client certificate: the same certificate, user and groups.
      assert.ok(cert, `${what}: the server names a certificate, analyze must too`);
      assert.equal(credentialIdOf(cert.sha256), credential, `${what}: credential id`);
      assert.equal(r.credential?.credentialId, credential, `${what}: credential id in the request`);
      assert.equal(r.user, e.user.username, `${what}: user`);
      assert.deepEqual(groups(r.groups), groups(e.user.groups), `${what}: groups`);
    } else if (r.credential?.kind === 'jwt' || r.credential?.kind === 'anonymous') {
      // A service-account JWT (its claims) and anonymous requests name the user the server names.
      assert.equal(r.user, e.user.username, `${what}: user`);
      assert.deepEqual(groups(r.groups), groups(e.user.groups), `${what}: groups`);
    } else {
      // An opaque bearer token (the server's own loopback client, system:apiserver): only the server knows who.
      assert.equal(r.credential?.kind, 'bearer', `${what}: ${e.user.username} used a bearer token`);
    }
  }
  return pairs;
}

/** The HTTP method behind an audit verb (analyze pairs by what was on the wire). */
function auditMethod(e: AuditEvent): string {
  const verbs: Record<string, string> = { create: 'POST', get: 'GET', list: 'GET', watch: 'GET', update: 'PUT', patch: 'PATCH', delete: 'DELETE', deletecollection: 'DELETE' };
  return verbs[e.verb] ?? e.verb.toUpperCase();
}
