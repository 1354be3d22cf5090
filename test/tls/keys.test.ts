import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { test } from 'node:test';
import { hkdfExpand, nextTrafficSecret, tls12Prf, trafficKeys } from '../../src/tls/keys.js';
import { Tls13Decryptor } from '../../src/tls/protection.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

// RFC 8448 §3 (simple 1-RTT handshake, TLS_AES_128_GCM_SHA256): traffic secrets and the keys/IVs the RFC lists.
const RFC8448 = [
  {
    name: 'client handshake',
    secret: 'b3eddb126e067f35a780b3abf45e2d8f3b1a950738f52e9600746a0e27a55a21',
    key: 'dbfaa693d1762c5b666af5d950258d01',
    iv: '5bd3c71b836e0b76bb73265f',
  },
  {
    name: 'server handshake',
    secret: 'b67b7d690cc16c4e75e54213cb2d37b4e9c912bcded9105d42befd59d391ad38',
    key: '3fce516009c21727d0f2e4e86ee403bc',
    iv: '5d313eb2671276ee13000b30',
  },
  {
    name: 'client application',
    secret: '9e40646ce79a7f9dc05af8889bce6552875afa0b06df0087f792ebb7c17504a5',
    key: '17422dda596ed5d9acd890e3c63f5051',
    iv: '5b78923dee08579033e523d9',
  },
  {
    name: 'server application',
    secret: 'a11af9f05531f856ad47116b45a950328204b4f44bfb6b3a4b4f1f3fcb631643',
    key: '9f02283b6c9c07efc26bb9f2ac92e356',
    iv: 'cf782b88dd83549aadf1e984',
  },
];

test('RFC 8448 §3: HKDF-Expand-Label gives the published traffic keys and IVs', () => {
  for (const v of RFC8448) {
    const { key, iv } = trafficKeys('sha256', hex(v.secret), 16);
    assert.equal(key.toString('hex'), v.key, `${v.name} key`);
    assert.equal(iv.toString('hex'), v.iv, `${v.name} iv`);
  }
});

test('RFC 8448 §3: the client Finished record decrypts with the client handshake keys', () => {
  const { key, iv } = trafficKeys('sha256', hex(RFC8448[0]!.secret), 16);
  const record = hex('170303003575ec4dc238cce60b298044a71e219c56cc77b0517fe9b93c7a4bfc44d87f38f80338ac98fc46deb384bd1caeacab6867d726c40546');
  const opened = new Tls13Decryptor('aes-128-gcm', key, iv).open(0x17, 0x0303, record.subarray(0, 5), record.subarray(5));
  assert.ok(opened);
  assert.equal(opened.type, 22);
  assert.equal(opened.plaintext.toString('hex'), '14000020a8ec436d677634ae525ac1fcebe11a039ec17694fac6e98527b642f2edd5ce61');
  // One flipped bit anywhere fails authentication.
  record[20]! ^= 1;
  assert.equal(new Tls13Decryptor('aes-128-gcm', key, iv).open(0x17, 0x0303, record.subarray(0, 5), record.subarray(5)), null);
});

test('TLS 1.2 PRF: the P_SHA256 vector published on the TLS working group list', () => {
  const out = tls12Prf('sha256', hex('9bbe436ba940f017b17652849a71db35'), 'test label', hex('a0ba9f936cda311827a6f796ffd5198c'), 100);
  assert.equal(
    out.toString('hex'),
    'e3f229ba727be17b8d122620557cd453c2aab21d07c3d495329b52d4e61edb5a6b301791e90d35c9c9a46b4e14baf9af0fa022f7077def17abfd3797c0564bab4fbc91666e9def9b97fce34f796789baa48082d122ee42c5a72e5a5110fff70187347b66',
  );
});

function opensslKdf(args: string[]): string {
  return execFileSync('openssl', ['kdf', ...args], { encoding: 'utf8' }).trim().replace(/:/g, '').toLowerCase();
}

test('TLS 1.2 PRF with SHA-384 and SHA-256 agrees with openssl kdf TLS1-PRF', () => {
  for (const [hash, digest, length] of [['sha384', 'SHA2-384', 148], ['sha256', 'SHA2-256', 104]] as const) {
    const secret = hex('b80b733d6ceefcdc71566ea48e5567df0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20');
    const seed = hex('cd665cf6a8447dd6ff8b27555edb7465aabbccddeeff');
    const label = 'key expansion';
    const ours = tls12Prf(hash, secret, label, seed, length).toString('hex');
    const labelSeed = Buffer.concat([Buffer.from(label), seed]).toString('hex');
    const theirs = opensslKdf(['-keylen', String(length), '-kdfopt', `digest:${digest}`, '-kdfopt', `hexsecret:${secret.toString('hex')}`, '-kdfopt', `hexseed:${labelSeed}`, 'TLS1-PRF']);
    assert.equal(ours, theirs, hash);
  }
});

test('HKDF-Expand and the KeyUpdate secret agree with openssl kdf HKDF (expand only)', () => {
  const prk = hex('a11af9f05531f856ad47116b45a950328204b4f44bfb6b3a4b4f1f3fcb631643aabbccddeeff00112233445566778899');
  const info = Buffer.from('any info, longer than one block of output');
  for (const [hash, digest, length] of [['sha256', 'SHA256', 80], ['sha384', 'SHA384', 100]] as const) {
    const theirs = opensslKdf(['-keylen', String(length), '-kdfopt', 'mode:EXPAND_ONLY', '-kdfopt', `digest:${digest}`, '-kdfopt', `hexkey:${prk.toString('hex')}`, '-kdfopt', `hexinfo:${info.toString('hex')}`, 'HKDF']);
    assert.equal(hkdfExpand(hash, prk, info, length).toString('hex'), theirs);
  }
  // RFC 8446 §7.2: HkdfLabel(length 32, "tls13 traffic upd", empty context).
  const secret = hex(RFC8448[3]!.secret);
  const label = Buffer.concat([Buffer.of(0, 32, 17), Buffer.from('tls13 traffic upd'), Buffer.of(0)]);
  const theirs = opensslKdf(['-keylen', '32', '-kdfopt', 'mode:EXPAND_ONLY', '-kdfopt', 'digest:SHA256', '-kdfopt', `hexkey:${secret.toString('hex')}`, '-kdfopt', `hexinfo:${label.toString('hex')}`, 'HKDF']);
  assert.equal(nextTrafficSecret('sha256', secret).toString('hex'), theirs);
});
