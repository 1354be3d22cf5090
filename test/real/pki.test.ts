// The test PKI is what its contract says, with openssl as the referee.
import assert from 'node:assert/strict';
import { statSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { testPki, type TestPki } from '../support/pki.js';
import { spawnChecked } from '../support/traffic.js';

async function x509(cert: string, ...fields: string[]): Promise<string> {
  return (await spawnChecked('openssl', ['x509', '-in', cert, '-noout', '-nameopt', 'RFC2253', ...fields])).stdout;
}

const DAY_MS = 24 * 60 * 60 * 1000;

async function validityDays(cert: string): Promise<number> {
  const dates = await x509(cert, '-startdate', '-enddate');
  const start = Date.parse(/notBefore=(.*)/.exec(dates)![1]!);
  const end = Date.parse(/notAfter=(.*)/.exec(dates)![1]!);
  return (end - start) / DAY_MS;
}

for (const keyType of ['ecdsa', 'rsa'] as const) {
  describe(`test PKI (${keyType})`, () => {
    let pki: TestPki;

    it('chains the server and client certificates to its CA, for their purposes', async () => {
      pki = await testPki({ keyType });
      const verify = (purpose: string, cert: string) =>
        spawnChecked('openssl', ['verify', '-CAfile', pki.caCert, '-purpose', purpose, cert]);
      await verify('sslserver', pki.serverCert);
      await verify('sslclient', pki.clientCert);
      await assert.rejects(verify('sslserver', pki.clientCert));
      const keyInfo = (await spawnChecked('openssl', ['pkey', '-in', pki.serverKey, '-noout', '-text'])).stdout;
      assert.match(keyInfo, keyType === 'ecdsa' ? /NIST CURVE: P-256/ : /Private-Key: \(2048 bit/);
    });

    it('issues the server certificate for 127.0.0.1 and localhost', async () => {
      assert.match(await x509(pki.serverCert, '-ext', 'subjectAltName'), /IP Address:127\.0\.0\.1, DNS:localhost|DNS:localhost, IP Address:127\.0\.0\.1/);
    });

    it('issues the node client certificate (CN=system:node:test-node, O=system:nodes) for 3 days', async () => {
      assert.equal((await x509(pki.clientCert, '-subject')).trim(), 'subject=CN=system:node:test-node,O=system:nodes');
      assert.equal(await validityDays(pki.clientCert), 3);
    });

    it('makes more client certificates with several groups and any lifetime', async () => {
      const alice = await pki.makeClientCert({ cn: 'alice', orgs: ['system:masters', 'team/a'], days: 1 });
      assert.equal((await x509(alice.cert, '-subject')).trim(), 'subject=CN=alice,O=team/a,O=system:masters');
      assert.equal(await validityDays(alice.cert), 1);
      await spawnChecked('openssl', ['verify', '-CAfile', pki.caCert, '-purpose', 'sslclient', alice.cert]);
    });

    it('keeps every file 0600 in a 0700 directory', () => {
      assert.equal(statSync(pki.dir).mode & 0o777, 0o700);
      for (const file of [pki.caKey, pki.caCert, pki.serverKey, pki.serverCert, pki.clientKey, pki.clientCert]) {
        assert.equal(path.dirname(file), pki.dir);
        assert.equal(statSync(file).mode & 0o777, 0o600, file);
      }
    });
  });
}
