/**
 * The Authority Key Identifier of an X.509 certificate (RFC 5280 4.2.1.1): the key id of the CA that signed
 * it. Two CAs with the same name have different key ids, so this tells an impostor's certificate (the admin's
 * subject, signed by a CA of its own) from the real one even when the issuer names match. Node's
 * X509Certificate does not expose it; this walks just enough DER to find it, with every length bounded by
 * its enclosing element.
 */

const AKI_OID = Buffer.from([0x55, 0x1d, 0x23]); // 2.5.29.35

interface Element {
  tag: number;
  /** Content start and end (exclusive). */
  start: number;
  end: number;
}

/** The DER element at `pos`, within `limit`; null when it does not fit. */
function element(der: Uint8Array, pos: number, limit: number): Element | null {
  if (pos + 2 > limit) return null;
  const tag = der[pos]!;
  let len = der[pos + 1]!;
  let start = pos + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 4 || start + n > limit) return null;
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + der[start + i]!;
    start += n;
  }
  const end = start + len;
  return end <= limit ? { tag, start, end } : null;
}

/** Uppercase colon-separated hex of the keyIdentifier, as `openssl x509 -ext authorityKeyIdentifier` shows it; null if absent. */
export function authorityKeyId(der: Uint8Array): string | null {
  const cert = element(der, 0, der.length);
  const tbs = cert && element(der, cert.start, cert.end);
  if (!tbs || tbs.tag !== 0x30) return null;
  // Extensions are the [3] element at the end of TBSCertificate.
  for (let pos = tbs.start; pos < tbs.end; ) {
    const e = element(der, pos, tbs.end);
    if (!e) return null;
    pos = e.end;
    if (e.tag !== 0xa3) continue;
    const list = element(der, e.start, e.end);
    if (!list || list.tag !== 0x30) return null;
    for (let at = list.start; at < list.end; ) {
      const ext = element(der, at, list.end);
      if (!ext) return null;
      at = ext.end;
      const oid = element(der, ext.start, ext.end);
      if (!oid || oid.tag !== 0x06 || !Buffer.from(der.subarray(oid.start, oid.end)).equals(AKI_OID)) continue;
      let value = element(der, oid.end, ext.end);
      if (value && value.tag === 0x01) value = element(der, value.end, ext.end); // critical flag
      const aki = value && value.tag === 0x04 ? element(der, value.start, value.end) : null;
      if (!aki || aki.tag !== 0x30) return null;
      const keyId = element(der, aki.start, aki.end);
      if (!keyId || keyId.tag !== 0x80) return null;
      return Buffer.from(der.subarray(keyId.start, keyId.end)).toString('hex').replace(/(..)(?!$)/g, '$1:').toUpperCase();
    }
  }
  return null;
}
