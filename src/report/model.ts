/**
 * The analysis report model: connections (TLS facts + HTTP protocol), requests (HTTP exchange +
 * Kubernetes request info) and identities (client certificate subject: CN = user, O = groups) with
 * certificate expiry. Pure data; the renderers beside it (text, json, html) print it.
 */
import type { Endpoint } from '../net/index.js';
import type { CertificateInfo } from '../tls/index.js';
import type { HttpExchange, HttpProtocol } from '../http/index.js';
import { kubeRequestInfo, type KubeRequestInfo } from '../kube/index.js';

export interface AnalyzedConnection {
  id: number;
  client: Endpoint;
  server: Endpoint;
  /** Capture time of the first segment, seconds since the epoch. */
  startTime: number;
  sni: string | null;
  alpn: string | null;
  tlsVersion: string | null;
  cipherSuite: string | null;
  decrypted: boolean;
  reason: string | null;
  clientCertificate: CertificateInfo | null;
  serverCertificate: CertificateInfo | null;
  /** The HTTP version spoken inside, when decrypted and recognised. */
  protocol: HttpProtocol | null;
  /** An HTTP-level decoding error (the rest of the connection was not decoded). */
  httpError: string | null;
  bytesToServer: number;
  bytesToClient: number;
  /** Requests decoded on this connection, and what they did ("list pods" → count). */
  requestCount: number;
  calls: Record<string, number>;
}

export interface AnalyzedRequest {
  connectionId: number;
  exchange: HttpExchange;
  /** Present for every request; `isResourceRequest` false for non-API paths (health, gRPC, …). */
  kube: KubeRequestInfo;
  /** The client certificate's CN of the connection, when known. */
  user: string | null;
  /** The client certificate's SHA-256 fingerprint: the identity the request is counted for. */
  certificateSha256: string | null;
}

export interface Identity {
  user: string;
  groups: string[];
  certificate: CertificateInfo;
  /** Whole days from the reference time to notAfter (negative once expired). */
  daysLeft: number;
  expired: boolean;
  expiringSoon: boolean;
  connectionIds: number[];
  clients: string[];
  userAgents: string[];
  requests: number;
  /** "verb resource" (or "verb path" for non-resource requests) → count. */
  calls: Record<string, number>;
}

export interface ExpiryWarning {
  kind: 'client' | 'server';
  subject: string;
  notAfter: string;
  daysLeft: number;
  message: string;
}

export interface Report {
  /** When certificate expiry is measured from (ISO 8601) and whether that is the capture's time or now. */
  referenceTime: string;
  referenceTimeSource: 'capture' | 'now';
  expiringWithinDays: number;
  connections: AnalyzedConnection[];
  requests: AnalyzedRequest[];
  identities: Identity[];
  warnings: ExpiryWarning[];
}

export interface ReportOptions {
  expiringWithinDays: number;
  /** Reference time for expiry in ms since the epoch; null = now. */
  referenceTimeMs: number | null;
}

const DAY_MS = 86_400_000;

export function daysLeft(notAfter: string, referenceMs: number): number {
  return Math.floor((Date.parse(notAfter) - referenceMs) / DAY_MS);
}

/** The request as the report sees it; also counted in the connection's summary. */
export function analyzeRequest(connection: AnalyzedConnection, exchange: HttpExchange): AnalyzedRequest {
  const request: AnalyzedRequest = {
    connectionId: connection.id,
    exchange,
    kube: kubeRequestInfo(exchange.method ?? '', exchange.path ?? ''),
    user: connection.clientCertificate?.commonName ?? null,
    certificateSha256: connection.clientCertificate?.sha256 ?? null,
  };
  connection.requestCount += 1;
  const call = callName(request);
  connection.calls[call] = (connection.calls[call] ?? 0) + 1;
  return request;
}

/** A short description of what a request did, for summaries: "list pods", "get /healthz". */
export function callName(request: AnalyzedRequest): string {
  const k = request.kube;
  if (!k.isResourceRequest) return `${k.verb} ${(request.exchange.path ?? '').split('?')[0]}`;
  const resource = k.subresource ? `${k.resource}/${k.subresource}` : k.resource;
  return `${k.verb} ${resource ?? ''}`.trim();
}

/** What each identity called, counted as requests complete so that the requests need not be kept. */
export class IdentityCalls {
  private readonly byCertificate = new Map<string, Pick<Identity, 'requests' | 'userAgents' | 'calls'>>();

  static of(requests: Iterable<AnalyzedRequest>): IdentityCalls {
    const calls = new IdentityCalls();
    for (const r of requests) calls.add(r);
    return calls;
  }

  add(r: AnalyzedRequest): void {
    if (!r.certificateSha256) return;
    let tally = this.byCertificate.get(r.certificateSha256);
    if (!tally) {
      tally = { requests: 0, userAgents: [], calls: {} };
      this.byCertificate.set(r.certificateSha256, tally);
    }
    tally.requests += 1;
    const ua = r.exchange.userAgent;
    if (ua && !tally.userAgents.includes(ua)) tally.userAgents.push(ua);
    const call = callName(r);
    tally.calls[call] = (tally.calls[call] ?? 0) + 1;
  }

  get(sha256: string): Pick<Identity, 'requests' | 'userAgents' | 'calls'> | undefined {
    return this.byCertificate.get(sha256);
  }
}

/**
 * `requests` are the requests to list (may be empty when they were streamed out); `calls` counts them
 * per identity and defaults to a count of `requests`.
 */
export function buildReport(
  connections: AnalyzedConnection[],
  requests: AnalyzedRequest[],
  options: ReportOptions,
  calls: IdentityCalls = IdentityCalls.of(requests),
): Report {
  const referenceMs = options.referenceTimeMs ?? Date.now();
  const identities = new Map<string, Identity>();
  for (const c of connections) {
    const cert = c.clientCertificate;
    if (!cert) continue;
    let identity = identities.get(cert.sha256);
    if (!identity) {
      const left = daysLeft(cert.notAfter, referenceMs);
      identity = {
        user: cert.commonName ?? cert.subject,
        groups: cert.organizations,
        certificate: cert,
        daysLeft: left,
        expired: Date.parse(cert.notAfter) < referenceMs,
        expiringSoon: left <= options.expiringWithinDays,
        connectionIds: [],
        clients: [],
        userAgents: [],
        requests: 0,
        calls: {},
      };
      identities.set(cert.sha256, identity);
    }
    identity.connectionIds.push(c.id);
    const client = c.client.ip;
    if (!identity.clients.includes(client)) identity.clients.push(client);
  }
  for (const [sha256, identity] of identities) {
    const tally = calls.get(sha256);
    if (tally) Object.assign(identity, tally);
  }
  const sortedIdentities = [...identities.values()].sort((a, b) => a.daysLeft - b.daysLeft || a.user.localeCompare(b.user));
  return {
    referenceTime: new Date(referenceMs).toISOString(),
    referenceTimeSource: options.referenceTimeMs === null ? 'now' : 'capture',
    expiringWithinDays: options.expiringWithinDays,
    connections,
    // Completion order interleaves connections; people read them by start time.
    requests: [...requests].sort((a, b) => a.exchange.firstTime - b.exchange.firstTime),
    identities: sortedIdentities,
    warnings: expiryWarnings(sortedIdentities, connections, referenceMs, options.expiringWithinDays),
  };
}

function expiryWarnings(identities: Identity[], connections: AnalyzedConnection[], referenceMs: number, withinDays: number): ExpiryWarning[] {
  const warnings: ExpiryWarning[] = [];
  for (const id of identities) {
    if (id.expiringSoon) warnings.push(warning('client', id.certificate, `client certificate of ${id.user}`, referenceMs));
  }
  const seen = new Set<string>();
  for (const c of connections) {
    const cert = c.serverCertificate;
    if (!cert || seen.has(cert.sha256)) continue;
    seen.add(cert.sha256);
    if (daysLeft(cert.notAfter, referenceMs) <= withinDays) {
      warnings.push(warning('server', cert, `server certificate of ${c.sni ?? `${c.server.ip}:${c.server.port}`}`, referenceMs));
    }
  }
  return warnings;
}

function warning(kind: 'client' | 'server', cert: CertificateInfo, what: string, referenceMs: number): ExpiryWarning {
  const left = daysLeft(cert.notAfter, referenceMs);
  const when = Date.parse(cert.notAfter) < referenceMs ? `expired on ${cert.notAfter}` : `expires in ${left} day${left === 1 ? '' : 's'} (${cert.notAfter})`;
  return { kind, subject: cert.subject, notAfter: cert.notAfter, daysLeft: left, message: `${what} ${when}` };
}
