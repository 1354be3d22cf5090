import { createHmac } from 'node:crypto';
import { KEY_LENGTH, MAC_LENGTH, type CipherSuite, type HashName } from './suites.js';

export const HASH_LENGTH: Record<HashName, number> = { sha256: 32, sha384: 48 };

/** HKDF-Expand (RFC 5869 §2.3). */
export function hkdfExpand(hash: HashName, prk: Uint8Array, info: Uint8Array, length: number): Buffer {
  const out = Buffer.alloc(length);
  let previous: Buffer = Buffer.alloc(0);
  for (let filled = 0, counter = 1; filled < length; counter++) {
    previous = createHmac(hash, prk).update(previous).update(info).update(Buffer.of(counter)).digest();
    previous.copy(out, filled);
    filled += previous.length;
  }
  return out;
}

/** HKDF-Expand-Label (RFC 8446 §7.1): HkdfLabel = length, "tls13 " + label, context. */
export function hkdfExpandLabel(
  hash: HashName,
  secret: Uint8Array,
  label: string,
  context: Uint8Array,
  length: number,
): Buffer {
  const fullLabel = Buffer.from(`tls13 ${label}`, 'latin1');
  const info = Buffer.concat([
    Buffer.of(length >> 8, length & 0xff, fullLabel.length),
    fullLabel,
    Buffer.of(context.length),
    context,
  ]);
  return hkdfExpand(hash, secret, info, length);
}

/** The write key and IV of a TLS 1.3 traffic secret (RFC 8446 §7.3). */
export function trafficKeys(hash: HashName, secret: Uint8Array, keyLength: number): { key: Buffer; iv: Buffer } {
  const empty = new Uint8Array(0);
  return {
    key: hkdfExpandLabel(hash, secret, 'key', empty, keyLength),
    iv: hkdfExpandLabel(hash, secret, 'iv', empty, 12),
  };
}

/** The secret after a KeyUpdate (RFC 8446 §7.2). */
export function nextTrafficSecret(hash: HashName, secret: Uint8Array): Buffer {
  return hkdfExpandLabel(hash, secret, 'traffic upd', new Uint8Array(0), HASH_LENGTH[hash]);
}

/** The TLS 1.2 PRF, P_hash(secret, label + seed) (RFC 5246 §5). */
export function tls12Prf(hash: HashName, secret: Uint8Array, label: string, seed: Uint8Array, length: number): Buffer {
  const labelSeed = Buffer.concat([Buffer.from(label, 'latin1'), seed]);
  const out = Buffer.alloc(length);
  let a: Buffer = createHmac(hash, secret).update(labelSeed).digest(); // A(1)
  for (let filled = 0; filled < length; ) {
    const block = createHmac(hash, secret).update(a).update(labelSeed).digest();
    block.copy(out, filled);
    filled += block.length;
    a = createHmac(hash, secret).update(a).digest();
  }
  return out;
}

/** One direction's TLS 1.2 record keys (empty MAC key for AEAD, empty IV for CBC). */
export interface Tls12DirectionKeys {
  macKey: Buffer;
  key: Buffer;
  iv: Buffer;
}

/** The TLS 1.2 key block (RFC 5246 §6.3; the AEAD implicit IV per RFC 5288 / RFC 7905), cut per direction. */
export function tls12KeyBlock(
  suite: CipherSuite,
  masterSecret: Uint8Array,
  serverRandom: Uint8Array,
  clientRandom: Uint8Array,
): { client: Tls12DirectionKeys; server: Tls12DirectionKeys } {
  const cipher = suite.cipher!;
  const macLength = suite.mac ? MAC_LENGTH[suite.mac] : 0;
  const keyLength = KEY_LENGTH[cipher];
  const ivLength = suite.mac ? 0 : cipher === 'chacha20-poly1305' ? 12 : 4;
  const seed = Buffer.concat([serverRandom, clientRandom]);
  const block = tls12Prf(suite.hash, masterSecret, 'key expansion', seed, 2 * (macLength + keyLength + ivLength));
  let at = 0;
  const next = (n: number): Buffer => block.subarray(at, (at += n));
  const clientMac = next(macLength);
  const serverMac = next(macLength);
  const clientKey = next(keyLength);
  const serverKey = next(keyLength);
  const clientIv = next(ivLength);
  const serverIv = next(ivLength);
  return { client: { macKey: clientMac, key: clientKey, iv: clientIv }, server: { macKey: serverMac, key: serverKey, iv: serverIv } };
}
