// Renderers: the JSON contract of issue 5 (field names), NDJSON lines and text tables (the HTML report: html*.test.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { analyzeRequest, buildReport, type AnalyzedConnection } from '../../src/report/index.js';
import { renderText, reportJson, requestJson } from '../../src/report/index.js';
import type { CertificateInfo } from '../../src/tls/index.js';
import type { HttpExchange } from '../../src/http/index.js';

const T = Date.UTC(2026, 5, 1) / 1000 + 0.123456;
const clientCert: CertificateInfo = {
  subject: 'O=system:masters, CN=<script>alert(1)</script>', commonName: '<script>alert(1)</script>', organizations: ['system:masters'],
  issuer: 'CN=kubernetes', subjectAltNames: [], notBefore: '2026-01-01T00:00:00.000Z', notAfter: '2026-06-05T00:00:00.000Z',
  serialNumber: '0A1B', sha256: 'AB:CD', authorityKeyId: null,
};
const decrypted: AnalyzedConnection = {
  id: 1, client: { ip: '10.0.0.1', port: 50000 }, server: { ip: '10.0.0.2', port: 6443 }, startTimeSeconds: T, sni: 'kubernetes.default', alpn: 'h2',
  tlsVersion: 'TLS 1.3', cipherSuite: 'TLS_AES_128_GCM_SHA256', decrypted: true, reason: null, clientCertificate: clientCert, serverCertificate: null, handshakeSeen: true, alert: null, rejected: null,
  protocol: 'h2', httpError: null, bytesToServer: 10, bytesToClient: 20, plaintextBytesToServer: 0, plaintextBytesToClient: 0, requestCount: 0, calls: {}, nodes: [],
};
const opaque: AnalyzedConnection = { ...decrypted, id: 2, decrypted: false, reason: 'no keys for client random', clientCertificate: null, protocol: null };
const exchange: HttpExchange = {
  protocol: 'h2', streamId: 3, method: 'GET', path: '/api/v1/namespaces/kube-system/secrets?limit=1&x=<b>', status: 200, userAgent: 'kubectl/v1.30.0',
  contentType: 'application/json', requestHeaders: [], responseHeaders: [], trailers: [], requestBodyBytes: 0, responseBodyBytes: 512,
  firstTimeSeconds: T, lastTimeSeconds: T + 0.5, complete: true,
};
const report = buildReport([decrypted, opaque], [analyzeRequest(decrypted, exchange)], { expiringWithinDays: 30, referenceTimeSeconds: T });

test('JSON has the contract fields of issue 5 with their names and types', () => {
  const json = JSON.parse(JSON.stringify(reportJson(report))) as Record<string, any>;
  const [c1, c2] = json.connections;
  for (const key of ['id', 'client', 'server', 'sni', 'alpn', 'tlsVersion', 'cipherSuite', 'decrypted']) assert.ok(key in c1, key);
  assert.deepEqual(c1.client, { ip: '10.0.0.1', port: 50000 });
  assert.equal(c1.reason, undefined);
  assert.deepEqual(Object.keys(c1.clientCertificate).slice(0, 8), ['subject', 'commonName', 'organizations', 'issuer', 'notBefore', 'notAfter', 'serialNumber', 'sha256']);
  assert.equal(c1.serverCertificate, undefined);
  assert.equal(c2.decrypted, false);
  assert.equal(c2.reason, 'no keys for client random');
  const [r] = json.requests;
  assert.deepEqual(
    [r.time, r.connectionId, r.streamId, r.method, r.path, r.status, r.userAgent, r.contentType],
    ['2026-06-01T00:00:00.123456Z', 1, 3, 'GET', exchange.path, 200, 'kubectl/v1.30.0', 'application/json'],
  );
  assert.equal(r.kube.verb, 'list');
  assert.equal(r.kube.resource, 'secrets');
  assert.equal(json.identities[0].daysLeft, 3);
  assert.equal(json.warnings.length, 1);
});

test('NDJSON: one line per request, no newline inside', () => {
  const line = JSON.stringify(requestJson(report.requests[0]!));
  assert.ok(!line.includes('\n'));
  assert.equal(JSON.parse(line).streamId, 3);
});

test('text: the answer, the identity, both connections with the reason, the request', () => {
  const text = renderText(report, { color: false, connections: true, requests: true });
  assert.doesNotMatch(text, /\x1b\[/, 'no colour codes unless asked');
  assert.match(text, /^! expires in 3 days 23 h: <script>alert\(1\)<\/script> \[system:masters\] — client certificate X509SHA256=abcd /m);
  assert.match(text, /no: no keys for client random/);
  assert.match(text, /list secrets/);
  assert.match(text, /Connections \(2\)/);
  assert.match(text, /Requests \(1\)/);
  // Without asking, connections and requests are summed up, not listed.
  const short = renderText(report, { color: false });
  assert.doesNotMatch(short, /Connections \(|Requests \(/);
  assert.match(short, /^1 connection not decrypted or refused \(no keys for client random ×1\); --connections lists them\.$/m);
});

test('--bodies: text bodies as text, binary ones (gRPC, protobuf) as base64', () => {
  const withBody = (contentType: string, body: Buffer, path = '/api/v1/pods') =>
    requestJson(analyzeRequest({ ...decrypted, calls: {} }, { ...exchange, path, contentType, responseBody: body }));
  assert.equal(withBody('application/json', Buffer.from('{"kind":"PodList"}')).responseBody, '{"kind":"PodList"}');
  const grpc = withBody('application/grpc', Buffer.from([0, 0, 0, 0, 2, 0x0a, 0xff]));
  assert.equal(grpc.responseBody, undefined);
  assert.equal(grpc.responseBodyBase64, 'AAAAAAIK/w==');
  // Secrets in protobuf cannot be redacted field by field: withheld.
  const secret = withBody('application/vnd.kubernetes.protobuf', Buffer.from([0x6b, 0x38, 0x73, 0]), '/api/v1/namespaces/kube-system/secrets');
  assert.deepEqual([secret.responseBody, secret.responseBodyBase64, secret.responseBodyWithheld], [undefined, undefined, 'may hold credentials and is not JSON']);
});
