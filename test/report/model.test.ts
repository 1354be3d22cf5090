// The report model: identities from client certificates (CN = user, O = groups), expiry counted from a
// reference time, warnings within the window, calls summarised per identity.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { analyzeRequest, buildReport, type AnalyzedConnection } from '../../src/report/index.js';
import type { CertificateInfo } from '../../src/tls/index.js';
import type { HttpExchange } from '../../src/http/index.js';

const DAY = 86_400_000;
const NOW = Date.UTC(2026, 0, 10, 12, 0, 0);

function cert(cn: string, orgs: string[], daysValid: number, sha: string): CertificateInfo {
  return {
    subject: `CN=${cn}${orgs.map((o) => `, O=${o}`).join('')}`, commonName: cn, organizations: orgs, issuer: 'CN=kubernetes',
    subjectAltNames: [], notBefore: new Date(NOW - DAY).toISOString(), notAfter: new Date(NOW + daysValid * DAY + 3600_000).toISOString(),
    serialNumber: '01', sha256: sha, authorityKeyId: null,
  };
}

function connection(id: number, clientCertificate: CertificateInfo | null, port = 40000 + id): AnalyzedConnection {
  return {
    id, client: { ip: `10.0.0.${id}`, port }, server: { ip: '10.0.0.100', port: 6443 }, startTimeSeconds: NOW / 1000, sni: 'kubernetes', alpn: 'h2',
    tlsVersion: 'TLS 1.3', cipherSuite: 'TLS_AES_128_GCM_SHA256', decrypted: clientCertificate !== null, reason: clientCertificate ? null : 'no keys for client random',
    clientCertificate, serverCertificate: cert('kube-apiserver', [], 300, 'SERVER'), handshakeSeen: true, alert: null, rejected: null, protocol: 'h2', httpError: null, bytesToServer: 0, bytesToClient: 0, plaintextBytesToServer: 0, plaintextBytesToClient: 0, requestCount: 0, calls: {}, nodes: [],
  };
}

function exchange(streamId: number, method: string, path: string, userAgent: string): HttpExchange {
  return {
    protocol: 'h2', streamId, method, path, userAgent, status: 200, requestHeaders: [], responseHeaders: [], trailers: [],
    requestBodyBytes: 0, responseBodyBytes: 0, firstTimeSeconds: NOW / 1000, lastTimeSeconds: NOW / 1000, complete: true,
  };
}

test('identities group connections by certificate; expiry and warnings follow the window', () => {
  const kubelet = cert('system:node:node-1', ['system:nodes'], 3, 'AA');
  const scheduler = cert('system:kube-scheduler', [], 200, 'BB');
  const c1 = connection(1, kubelet);
  const c2 = connection(2, kubelet);
  const c3 = connection(3, scheduler);
  const c4 = connection(4, null);
  const requests = [
    analyzeRequest(c1, exchange(1, 'GET', '/api/v1/namespaces/default/pods?watch=1', 'kubelet/v1.30.0')),
    analyzeRequest(c1, exchange(3, 'GET', '/api/v1/nodes/node-1', 'kubelet/v1.30.0')),
    analyzeRequest(c2, exchange(1, 'PATCH', '/api/v1/nodes/node-1/status', 'kubelet/v1.30.0')),
    analyzeRequest(c3, exchange(1, 'GET', '/api/v1/pods', 'kube-scheduler/v1.30.0')),
    analyzeRequest(c3, exchange(3, 'GET', '/healthz', 'kube-scheduler/v1.30.0')),
  ];
  const report = buildReport([c1, c2, c3, c4], requests, { expiringWithinDays: 30, referenceTimeSeconds: NOW / 1000 });

  assert.equal(report.referenceTimeSource, 'capture');
  assert.deepEqual(report.identities.map((i) => [i.user, i.groups, i.daysLeft, i.expiringSoon, i.connectionIds, i.requests]), [
    ['system:node:node-1', ['system:nodes'], 3, true, [1, 2], 3],
    ['system:kube-scheduler', [], 200, false, [3], 2],
  ]);
  assert.deepEqual(report.identities[0]!.calls, { 'watch pods': 1, 'get nodes': 1, 'patch nodes/status': 1 });
  assert.deepEqual(report.identities[1]!.calls, { 'list pods': 1, 'get /healthz': 1 });
  assert.deepEqual(report.identities[0]!.clients, ['10.0.0.1', '10.0.0.2']);
  assert.equal(requests[0]!.user, 'system:node:node-1');
  assert.deepEqual([c1.requestCount, c1.calls], [2, { 'watch pods': 1, 'get nodes': 1 }]);
  assert.deepEqual([c4.requestCount, c4.calls], [0, {}]);
  assert.deepEqual(report.warnings.map((w) => w.message), [`client certificate of system:node:node-1 expires in 3 days 1 h (${kubelet.notAfter})`]);

  // A wider window also catches the server certificate (300 days) and the scheduler (200 days).
  const wide = buildReport([c1, c3], [], { expiringWithinDays: 365, referenceTimeSeconds: NOW / 1000 });
  assert.deepEqual(wide.warnings.map((w) => [w.kind, w.daysLeft]), [['client', 3], ['client', 200], ['server', 300]]);
});

test('an expired certificate is reported as expired', () => {
  const old = cert('old-client', [], -2, 'CC');
  const report = buildReport([connection(1, old)], [], { expiringWithinDays: 30, referenceTimeSeconds: NOW / 1000 });
  assert.equal(report.identities[0]!.expired, true);
  assert.equal(report.identities[0]!.daysLeft, -2);
  assert.match(report.warnings[0]!.message, /^client certificate of old-client expired 47 h ago /);
});

test('without a capture time, expiry is measured from now', () => {
  const report = buildReport([], [], { expiringWithinDays: 30, referenceTimeSeconds: null });
  assert.equal(report.referenceTimeSource, 'now');
  assert.ok(Math.abs(Date.parse(report.referenceTime) - Date.now()) < 60_000);
});

test('token, Basic and anonymous identities, never the secret; a refused certificate is rejected', () => {
  const b64url = (v: unknown): string => Buffer.from(JSON.stringify(v)).toString('base64url');
  const bound = `${b64url({ alg: 'RS256' })}.${b64url({ sub: 'system:serviceaccount:kube-system:coredns', exp: NOW / 1000 + 3600, jti: 'j-1', 'kubernetes.io': { namespace: 'kube-system', serviceaccount: { name: 'coredns' } } })}.c2ln`;
  const legacy = `${b64url({ alg: 'RS256' })}.${b64url({ sub: 'system:serviceaccount:default:builder', iss: 'kubernetes/serviceaccount', 'kubernetes.io/serviceaccount/namespace': 'default' })}.c2ln`;
  const noCert = connection(1, null);
  noCert.decrypted = true;
  noCert.handshakeSeen = true;
  const withHeader = (e: HttpExchange, value: string): HttpExchange => ({ ...e, requestHeaders: [['authorization', value]] });
  const requests = [
    analyzeRequest(noCert, withHeader(exchange(1, 'GET', '/api/v1/namespaces/kube-system/endpoints', 'coredns/1.11'), `Bearer ${bound}`)),
    analyzeRequest(noCert, withHeader(exchange(3, 'GET', '/api/v1/pods', 'builder'), `Bearer ${legacy}`)),
    analyzeRequest(noCert, withHeader(exchange(5, 'GET', '/api/v1/pods', 'curl'), `Basic ${Buffer.from('alice:pw').toString('base64')}`)),
    analyzeRequest(noCert, withHeader(exchange(7, 'GET', '/version', 'curl'), 'Bearer opaque-abc')),
    analyzeRequest(noCert, exchange(9, 'GET', '/api/v1/namespaces/default/pods/p/exec?command=sh&access_token=opaque-abc', 'ws')),
    analyzeRequest(noCert, exchange(11, 'GET', '/healthz', 'probe')),
  ];
  const refused = connection(2, cert('kubernetes-admin', ['system:masters'], -1, 'DD'));
  refused.alert = { from: 'server', fatal: true, description: 'certificate_expired', duringHandshake: true };
  refused.rejected = 'certificate_expired';
  const report = buildReport([noCert, refused], requests, { expiringWithinDays: 30, referenceTimeSeconds: NOW / 1000 });
  assert.deepEqual(report.identities.map((i) => [i.user, i.description, i.groups, i.requests, i.attention, i.rejected]), [
    ['kubernetes-admin', 'client certificate', ['system:masters'], 0, ['expired', 'rejected'], 'certificate_expired'],
    ['system:serviceaccount:kube-system:coredns', 'service-account token', ['system:serviceaccounts', 'system:serviceaccounts:kube-system'], 1, ['expiring'], null],
    ['alice', 'basic auth user alice', [], 1, [], null],
    ['system:anonymous', 'anonymous (no credential)', ['system:unauthenticated'], 1, [], null],
    ['system:serviceaccount:default:builder', 'legacy service-account token', ['system:serviceaccounts', 'system:serviceaccounts:default'], 1, ['legacy'], null],
    [null, 'bearer token (opaque)', [], 2, [], null],
  ]);
  assert.equal(report.identities[1]!.credentialId, 'JTI=j-1');
  assert.equal(report.identities[0]!.credentialId, 'X509SHA256=dd');
  assert.equal(requests[4]!.exchange.path, '/api/v1/namespaces/default/pods/p/exec?command=sh&access_token=REDACTED');
  assert.deepEqual(requests[0]!.exchange.requestHeaders, [], 'no header list (with its Authorization) is kept');
  const text = JSON.stringify(report);
  for (const secret of [bound, legacy, 'opaque-abc', Buffer.from('alice:pw').toString('base64')]) assert.ok(!text.includes(secret), secret);
});

test('a server certificate is within the window by its exact time left, as client identities are (30 days 1 h is not within 30)', () => {
  const c = { ...connection(1, null), serverCertificate: cert('kube-apiserver', [], 30, 'SRV30') };
  const at = (days: number) => buildReport([c], [], { expiringWithinDays: days, referenceTimeSeconds: NOW / 1000 }).warnings.filter((w) => w.kind === 'server');
  assert.deepEqual(at(30), []);
  assert.deepEqual(at(31).map((w) => w.daysLeft), [30]);
});
