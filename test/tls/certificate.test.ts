import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { describeCertificate } from '../../src/tls/index.js';
import { secretTempDir } from '../support/pki.js';

const openssl = (args: string[]): string => execFileSync('openssl', args, { encoding: 'utf8' }).trim();

test('certificate fields match openssl: UTF-8 names, several O (one with a comma, one in a multi-valued RDN), SANs', () => {
  const dir = secretTempDir('cert');
  const cert = path.join(dir, 'c.pem');
  openssl([
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', path.join(dir, 'k.pem'), '-out', cert,
    '-days', '2', '-utf8', '-subj', '/O=système:nodes/O=a, b+OU=x/CN=ノード',
    '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1,URI:spiffe://cluster.local/ns/default/sa/x',
  ]);
  const info = describeCertificate(new X509Certificate(readFileSync(cert)).raw);
  assert.ok(info);
  // openssl's one-attribute-per-line view of the subject is the referee for CN and O.
  const subject = openssl(['x509', '-in', cert, '-noout', '-subject', '-nameopt', 'multiline,utf8,-esc_msb']);
  const values = (name: string): string[] =>
    [...subject.matchAll(new RegExp(`${name}\\s+= (.+?)(?= \\+ |$)`, 'gm'))].map((m) => m[1]!);
  assert.deepEqual(info.organizations, values('organizationName'));
  assert.equal(info.commonName, values('commonName')[0]);
  assert.equal(info.serialNumber, openssl(['x509', '-in', cert, '-noout', '-serial']).replace('serial=', ''));
  assert.equal(info.sha256, openssl(['x509', '-in', cert, '-noout', '-fingerprint', '-sha256']).split('=')[1]);
  assert.equal(info.notAfter, new Date(openssl(['x509', '-in', cert, '-noout', '-enddate']).replace('notAfter=', '')).toISOString());
  assert.equal(info.notBefore, new Date(openssl(['x509', '-in', cert, '-noout', '-startdate']).replace('notBefore=', '')).toISOString());
  assert.deepEqual(info.subjectAltNames, ['DNS:localhost', 'IP Address:127.0.0.1', 'IP Address:0:0:0:0:0:0:0:1', 'URI:spiffe://cluster.local/ns/default/sa/x']);
  assert.ok(Object.isFrozen(info), 'shared between connections, so frozen');
});

test('bytes that are no certificate give null', () => {
  assert.equal(describeCertificate(new Uint8Array(0)), null);
  assert.equal(describeCertificate(Buffer.from('30820102', 'hex')), null);
});
