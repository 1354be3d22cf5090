// The referee for analyze: the API server's own audit log (--audit-log-format json, one event per line).
import { readFileSync } from 'node:fs';

/** The fields of an audit.k8s.io/v1 Event that analyze can know too. */
export interface AuditEvent {
  auditID: string;
  stage: 'RequestReceived' | 'ResponseStarted' | 'ResponseComplete' | 'Panic';
  requestURI: string;
  verb: string;
  user: { username: string; uid?: string; groups?: string[]; extra?: Record<string, string[]> };
  sourceIPs?: string[];
  userAgent?: string;
  objectRef?: { resource?: string; namespace?: string; name?: string; apiGroup?: string; apiVersion?: string; subresource?: string };
  responseStatus?: { code?: number };
  requestReceivedTimestamp: string;
  stageTimestamp: string;
}

/** The credential id the server records for a client certificate: "X509SHA256=<hex of the DER's SHA-256>". */
export const CREDENTIAL_ID = 'authentication.kubernetes.io/credential-id';

/**
 * One event per request (its last stage: a watch still open at the end has only ResponseStarted), in the
 * order the requests were received.
 */
export function readAuditLog(file: string): AuditEvent[] {
  const byId = new Map<string, AuditEvent>();
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (line.trim() === '') continue;
    const event = JSON.parse(line) as AuditEvent;
    byId.set(event.auditID, event);
  }
  return [...byId.values()].sort((a, b) => a.requestReceivedTimestamp.localeCompare(b.requestReceivedTimestamp));
}

/** The certificate's SHA-256 as colon-separated upper-case hex (Node's fingerprint256) in the audit log's form. */
export const credentialIdOf = (fingerprint256: string): string => `X509SHA256=${fingerprint256.replaceAll(':', '').toLowerCase()}`;
