import { X509Certificate } from 'node:crypto';
import type { CertificateInfo } from './types.js';

/** Reads a DER certificate with Node's X509Certificate; null when it does not parse. */
export function describeCertificate(der: Uint8Array): CertificateInfo | null {
  // X509Certificate and its getters throw on malformed input (bad DER, unparsable dates): not our caller's problem.
  try {
    return describe(new X509Certificate(der));
  } catch {
    return null;
  }
}

function describe(cert: X509Certificate): CertificateInfo {
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
  };
}

function oneLine(name: string): string {
  return name.split('\n').join(', ');
}
