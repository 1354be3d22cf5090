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
    id, client: { ip: `10.0.0.${id}`, port }, server: { ip: '10.0.0.100', port: 6443 }, startTime: NOW / 1000, sni: 'kubernetes', alpn: 'h2',
    tlsVersion: 'TLS 1.3', cipherSuite: 'TLS_AES_128_GCM_SHA256', decrypted: clientCertificate !== null, reason: clientCertificate ? null : 'no keys for client random',
    clientCertificate, serverCertificate: cert('kube-apiserver', [], 300, 'SERVER'), protocol: 'h2', httpError: null, bytesToServer: 0, bytesToClient: 0, requestCount: 0, calls: {},
  };
}

function exchange(streamId: number, method: string, path: string, userAgent: string): HttpExchange {
  return {
    protocol: 'h2', streamId, method, path, userAgent, status: 200, requestHeaders: [], responseHeaders: [], trailers: [],
    requestBodyBytes: 0, responseBodyBytes: 0, firstTime: NOW / 1000, lastTime: NOW / 1000, complete: true,
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
  const report = buildReport([c1, c2, c3, c4], requests, { expiringWithinDays: 30, referenceTimeMs: NOW });

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
  assert.deepEqual(report.warnings.map((w) => w.message), [`client certificate of system:node:node-1 expires in 3 days (${kubelet.notAfter})`]);

  // A wider window also catches the server certificate (300 days) and the scheduler (200 days).
  const wide = buildReport([c1, c3], [], { expiringWithinDays: 365, referenceTimeMs: NOW });
  assert.deepEqual(wide.warnings.map((w) => [w.kind, w.daysLeft]), [['client', 3], ['client', 200], ['server', 300]]);
});

test('an expired certificate is reported as expired', () => {
  const old = cert('old-client', [], -2, 'CC');
  const report = buildReport([connection(1, old)], [], { expiringWithinDays: 30, referenceTimeMs: NOW });
  assert.equal(report.identities[0]!.expired, true);
  assert.equal(report.identities[0]!.daysLeft, -2);
  assert.match(report.warnings[0]!.message, /^client certificate of old-client expired on /);
});

test('without a capture time, expiry is measured from now', () => {
  const report = buildReport([], [], { expiringWithinDays: 30, referenceTimeMs: null });
  assert.equal(report.referenceTimeSource, 'now');
  assert.ok(Math.abs(Date.parse(report.referenceTime) - Date.now()) < 60_000);
});
