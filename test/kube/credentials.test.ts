// Credentials in requests: JWTs decoded (never verified), opaque bearer tokens and Basic auth named by a
// fingerprint, and the secrets redacted from headers and query strings.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, generateKeyPairSync, sign } from 'node:crypto';
import { decodeJwt, parseAuthorization, printableBody, queryToken, redactPath, secretFingerprint } from '../../src/kube/credentials.js';

const b64url = (v: unknown): string => Buffer.from(JSON.stringify(v)).toString('base64url');

/** A JWT signed with a fresh RSA key, as kube-apiserver's TokenRequest signs them (RS256). */
function jwt(claims: Record<string, unknown>): string {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const input = `${b64url({ alg: 'RS256', kid: 'test-key' })}.${b64url(claims)}`;
  return `${input}.${sign('sha256', Buffer.from(input), privateKey).toString('base64url')}`;
}

test('a bound service-account token: every claim, and the kubernetes.io claim', () => {
  const token = jwt({
    aud: ['https://kubernetes.default.svc'], exp: 1780000000, iat: 1779996400, nbf: 1779996400, iss: 'https://kubernetes.default.svc',
    jti: '5d3c6a1e-0000-4000-8000-000000000001', sub: 'system:serviceaccount:kube-system:coredns',
    'kubernetes.io': {
      namespace: 'kube-system', node: { name: 'worker-1', uid: 'n-uid' }, pod: { name: 'coredns-abc', uid: 'p-uid' },
      serviceaccount: { name: 'coredns', uid: 'sa-uid' }, warnafter: 1779999999,
    },
  });
  const credential = parseAuthorization(`Bearer ${token}`);
  assert.equal(credential?.kind, 'jwt');
  assert.equal(credential.fingerprint, createHash('sha256').update(token).digest('hex').slice(0, 16));
  assert.deepEqual(credential.kind === 'jwt' && credential.claims, {
    alg: 'RS256', kid: 'test-key', sub: 'system:serviceaccount:kube-system:coredns', iss: 'https://kubernetes.default.svc',
    aud: ['https://kubernetes.default.svc'], iat: 1779996400, nbf: 1779996400, exp: 1780000000, jti: '5d3c6a1e-0000-4000-8000-000000000001',
    kubernetes: { namespace: 'kube-system', serviceAccount: 'coredns', serviceAccountUid: 'sa-uid', pod: 'coredns-abc', node: 'worker-1', secret: null, warnAfter: 1779999999 },
    groups: [],
  });
});

test('a legacy Secret-based token has flat claims and no exp', () => {
  const claims = decodeJwt(jwt({
    iss: 'kubernetes/serviceaccount', sub: 'system:serviceaccount:default:builder',
    'kubernetes.io/serviceaccount/namespace': 'default', 'kubernetes.io/serviceaccount/secret.name': 'builder-token-x1y2z',
    'kubernetes.io/serviceaccount/service-account.name': 'builder', 'kubernetes.io/serviceaccount/service-account.uid': 'u1',
  }));
  assert.equal(claims?.exp, null);
  assert.deepEqual(claims?.kubernetes, { namespace: 'default', serviceAccount: 'builder', serviceAccountUid: 'u1', pod: null, node: null, secret: 'builder-token-x1y2z', warnAfter: null });
});

test('opaque bearer tokens and Basic auth are named, never shown', () => {
  assert.deepEqual(parseAuthorization('Bearer abcdef.0123456789abcdef'), { kind: 'bearer', fingerprint: secretFingerprint('abcdef.0123456789abcdef') });
  // Three dot-separated parts that are not JSON are no JWT either.
  assert.equal(parseAuthorization('Bearer aaa.bbb.ccc')?.kind, 'bearer');
  const basic = Buffer.from('alice:s3cret:with:colons').toString('base64');
  assert.deepEqual(parseAuthorization(`Basic ${basic}`), { kind: 'basic', fingerprint: secretFingerprint(basic), user: 'alice' });
  assert.equal(parseAuthorization('Negotiate'), null);
  assert.equal(parseAuthorization(''), null);
});

test('credential query parameters are redacted', () => {
  assert.equal(redactPath('/api/v1/namespaces/default/pods/p/exec?command=sh&access_token=eyJx.y.z&stdin=true'),
    '/api/v1/namespaces/default/pods/p/exec?command=sh&access_token=REDACTED&stdin=true');
  assert.equal(redactPath('/x?token=abc'), '/x?token=REDACTED');
  assert.equal(redactPath('/x?tokens=1&mytoken=2'), '/x?tokens=1&mytoken=2');
  assert.equal(redactPath('/token=abc'), '/token=abc');
  assert.equal(queryToken('/x?a=1&access_token=ab%2Bc'), 'ab+c');
  assert.equal(queryToken('/x?a=1'), null);
});

test('--bodies never prints credentials: TokenRequest tokens and Secret data are redacted, unreadable ones withheld', () => {
  const tokenRequest = Buffer.from(JSON.stringify({ kind: 'TokenRequest', apiVersion: 'authentication.k8s.io/v1', status: { token: 'eyJhbGciOi.secret.sig', expirationTimestamp: '2026-12-02T00:00:00Z' } }));
  assert.deepEqual(JSON.parse((printableBody(tokenRequest, 'application/json', { resource: 'serviceaccounts', subresource: 'token' }) as { text: string }).text).status,
    { token: 'REDACTED', expirationTimestamp: '2026-12-02T00:00:00Z' });
  const secrets = Buffer.from(JSON.stringify({ kind: 'SecretList', items: [{ kind: 'Secret', metadata: { name: 'db', labels: { data: 'x' } }, data: { password: 'aHVudGVyMg==' }, type: 'Opaque' }] }));
  const printed = (printableBody(secrets, 'application/json; charset=utf-8', { resource: 'secrets' }) as { text: string }).text;
  assert.ok(!printed.includes('aHVudGVyMg=='));
  assert.deepEqual(JSON.parse(printed).items[0].data, { password: 'REDACTED' });
  assert.deepEqual(JSON.parse(printed).items[0].metadata, { name: 'db', labels: { data: 'x' } });
  assert.equal(printableBody(Buffer.from([0x6b, 0x38, 0x73, 0x00]), 'application/vnd.kubernetes.protobuf', { resource: 'secrets' }), null);
  assert.deepEqual(printableBody(Buffer.from('ok'), 'text/plain', {}), { text: 'ok' });
  assert.deepEqual(printableBody(Buffer.from([1, 2]), 'application/grpc', {}), { base64: 'AQI=' });
});
