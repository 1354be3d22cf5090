import { X509Certificate } from 'node:crypto';
import { authorityKeyId } from './authorityKeyId.js';
import type { CertificateInfo } from './types.js';

/** The same few certificates come back in every connection of a capture: parse each once. */
const MAX_CACHED = 1024;
const cache = new Map<string, CertificateInfo | null>();

/** Reads a DER certificate with Node's X509Certificate; null when it does not parse. */
export function describeCertificate(der: Uint8Array): CertificateInfo | null {
  const key = Buffer.from(der.buffer, der.byteOffset, der.length).toString('latin1');
  const cached = cache.get(key);
  if (cached !== undefined) return cached;
  let info: CertificateInfo | null;
  // X509Certificate and its getters throw on malformed input (bad DER, unparsable dates): not our caller's problem.
  try {
    // Frozen: the same object is shared by every connection that presents this certificate.
    info = freeze(describe(new X509Certificate(der), der));
  } catch {
    info = null;
  }
  if (cache.size >= MAX_CACHED) cache.delete(cache.keys().next().value!);
  cache.set(key, info);
  return info;
}

function describe(cert: X509Certificate, der: Uint8Array): CertificateInfo {
  // The legacy object splits multi-valued attributes (several O=) into arrays, already unescaped.
  const names = cert.toLegacyObject().subject as unknown as Record<string, string | string[] | undefined>;
  const values = (key: string): string[] => {
    const v = names[key];
    return v === undefined ? [] : Array.isArray(v) ? v : [v];
  };
  return {
    subject: oneLine(cert.subject),
    commonName: values('CN')[0] ?? null,
    organizations: values('O'),
    issuer: oneLine(cert.issuer),
    subjectAltNames: cert.subjectAltName ? cert.subjectAltName.split(', ') : [],
    notBefore: new Date(cert.validFrom).toISOString(),
    notAfter: new Date(cert.validTo).toISOString(),
    serialNumber: cert.serialNumber.toUpperCase(),
    sha256: cert.fingerprint256,
    authorityKeyId: authorityKeyId(der),
  };
}

function oneLine(name: string): string {
  return name.split('\n').join(', ');
}

function freeze(info: CertificateInfo): CertificateInfo {
  Object.freeze(info.organizations);
  Object.freeze(info.subjectAltNames);
  return Object.freeze(info);
}
