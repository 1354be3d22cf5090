/**
 * The analysis report model: connections (TLS facts + HTTP protocol), requests (HTTP exchange +
 * Kubernetes request info) and identities (every credential: client certificates, tokens, Basic auth,
 * anonymous; see identities.ts) with expiry. Pure data; the renderers beside it (text, json, html) print it.
 */
import { count } from '../util/count.js';
import type { Endpoint } from '../net/index.js';
import type { CertificateInfo, MidstreamAlignment, TlsAlert } from '../tls/index.js';
import { headerValue, type HttpExchange, type HttpProtocol } from '../http/index.js';
import { kubeRequestInfo, type KubeRequestInfo } from '../kube/index.js';
import { redactPath } from '../kube/credentials.js';
import type { Filter } from './filters.js';
import { certificateCredential, finishIdentities, IdentityTally, rejectingAlert, requestCredential, type Credential, type Identity } from './identities.js';
import { ExpiryWindow, expiryText } from './timeLeft.js';

export interface AnalyzedConnection {
  id: number;
  client: Endpoint;
  server: Endpoint;
  /** Capture time of the first segment. */
  startTimeSeconds: number;
  sni: string | null;
  alpn: string | null;
  tlsVersion: string | null;
  cipherSuite: string | null;
  decrypted: boolean;
  reason: string | null;
  clientCertificate: CertificateInfo | null;
  serverCertificate: CertificateInfo | null;
  /** The ClientHello was captured (or the connection is plain HTTP): a missing client certificate means none was sent. */
  handshakeSeen: boolean;
  /** The first TLS alert other than close_notify. */
  alert: TlsAlert | null;
  /** The server refused the handshake (the alert's name, e.g. "certificate_expired"); null if it did not. */
  rejected: string | null;
  /** The HTTP version spoken inside, when decrypted and recognised. */
  protocol: HttpProtocol | null;
  /** An HTTP-level decoding error (the rest of the connection was not decoded). */
  httpError: string | null;
  /** TCP payload bytes each way (for TLS: the records), decrypted or not. */
  bytesToServer: number;
  bytesToClient: number;
  /** Application bytes decrypted each way (0 when nothing could be decrypted). */
  plaintextBytesToServer: number;
  plaintextBytesToClient: number;
  /** Requests decoded on this connection, and what they did ("list pods" → count). */
  requestCount: number;
  calls: Record<string, number>;
  /** Decrypted from mid-stream keys (its handshake was not captured): see MidstreamConnection. */
  midstream?: MidstreamConnection;
  /** Where `clientCertificate` came from: the handshake in the capture, or the live process (`analyze --conns`). */
  identitySource?: IdentitySource;
  /** The nodes (capture labels) it was seen on, in order: one for a single capture, two for both ends of it. */
  nodes: string[];
}

export type IdentitySource = 'handshake' | 'live process';

/** A connection decrypted from secrets read in the live process, joined in the middle. */
export interface MidstreamConnection {
  /** Capture time of the first decrypted record (RFC 3339, ns), null when nothing decrypted. */
  joinedAt: string | null;
  /** HPACK fields that referred to table entries from before the join: left out, never guessed. */
  unrecoverableHeaderFields: number;
  /** Per direction: the sequence number the key log gave and the one the first record verified at. */
  toServer: MidstreamAlignment;
  toClient: MidstreamAlignment;
}

/** "joined mid-stream at <time>; N header fields not recoverable", or why it could not be decrypted. */
export function midstreamNote(m: MidstreamConnection): string {
  const failures = [m.toServer.failure, m.toClient.failure].filter((f) => f !== null);
  if (m.joinedAt === null) return `mid-stream keys: ${failures[0] ?? 'nothing decrypted'}`;
  return `joined mid-stream at ${m.joinedAt}; ${count(m.unrecoverableHeaderFields, 'header field')} not recoverable`;
}

export interface AnalyzedRequest {
  connectionId: number;
  /** Secret header values (Authorization, Cookie) and credential query parameters are already REDACTED. */
  exchange: HttpExchange;
  /** Present for every request; `isResourceRequest` false for non-API paths (health, gRPC, …). */
  kube: KubeRequestInfo;
  /** Who the request authenticated as (see identities.ts); null when it cannot be known. */
  credential: Credential | null;
  /** The credential's user name (certificate CN, token subject, Basic user, system:anonymous). */
  user: string | null;
  /** The client certificate's SHA-256 fingerprint, when the request came with one. */
  certificateSha256: string | null;
}

export type { Identity } from './identities.js';

export interface ExpiryWarning {
  kind: 'client' | 'server';
  subject: string;
  notAfter: string;
  daysLeft: number;
  message: string;
}

export interface Report {
  /** When expiry is measured from (ISO 8601): the first capture's start, a time given with --now, or the clock. */
  referenceTime: string;
  referenceTimeSource: 'capture' | 'given' | 'now';
  expiringWithinDays: number;
  connections: AnalyzedConnection[];
  requests: AnalyzedRequest[];
  identities: Identity[];
  warnings: ExpiryWarning[];
}

export interface ReportOptions {
  expiringWithinDays: number;
  /** Reference time for expiry; null = now. */
  referenceTimeSeconds: number | null;
  /** Where referenceTimeSeconds came from (default: 'capture' when given, else 'now'). */
  referenceTimeSource?: Report['referenceTimeSource'];
  /** Narrow the report (requests were filtered as they completed with the same filter). */
  filter?: Filter;
}

/** Remembers credentials across the requests of a run, so that each token is decoded once. */
export type CredentialCache = Map<string, Credential>;

/**
 * The request as the report sees it; also counted in the connection's summary. The exchange's secrets go
 * here (credential query parameters redacted, header lists dropped), before any renderer sees them.
 */
export function analyzeRequest(connection: AnalyzedConnection, exchange: HttpExchange, credentials: CredentialCache = new Map()): AnalyzedRequest {
  const credential = requestCredential({ clientCertificate: connection.clientCertificate, handshakeKnown: connection.handshakeSeen }, exchange, credentials);
  if (exchange.path !== undefined) exchange.path = redactPath(exchange.path);
  const request: AnalyzedRequest = {
    connectionId: connection.id,
    exchange,
    kube: kubeRequestInfo(exchange.method ?? '', exchange.path ?? '', exchange.requestBody && {
      contentType: headerValue(exchange.requestHeaders, 'content-type'),
      bytes: exchange.requestBody,
    }),
    credential,
    user: credential?.user ?? null,
    certificateSha256: connection.clientCertificate?.sha256 ?? null,
  };
  // The header lists go: no renderer prints a field beyond those the exchange holds (method, path, user agent, …),
  // so no Authorization or Cookie value can reach an output, and 100k retained requests do not keep 100k lists.
  exchange.requestHeaders = [];
  exchange.responseHeaders = [];
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

/** Counts a completed request for its identity (requests with no known credential are not counted). */
export function tallyRequest(tally: IdentityTally, r: AnalyzedRequest, clientIp: string): void {
  if (r.credential) tally.addRequest(r.credential, r.connectionId, clientIp, r.exchange, callName(r));
}

/**
 * `requests` are the requests to list (may be empty when they were streamed out); `tally` counts them per
 * identity (defaults to a count of `requests`). With a filter, connections and identities are narrowed to it.
 */
export function buildReport(
  connections: AnalyzedConnection[],
  requests: AnalyzedRequest[],
  options: ReportOptions,
  tally?: IdentityTally,
): Report {
  const window = new ExpiryWindow(options.referenceTimeSeconds ?? Date.now() / 1000, options.expiringWithinDays);
  const filter = options.filter;
  if (!tally) {
    tally = new IdentityTally();
    const ips = new Map(connections.map((c) => [c.id, c.client.ip]));
    for (const r of requests) tallyRequest(tally, r, ips.get(r.connectionId) ?? '');
  }
  // Requests were filtered as they completed: the connections they came on stay.
  const narrowed = filter !== undefined && (filter.byCredential || filter.byRequest);
  const withRequests = new Set<number>();
  if (narrowed) for (const { activity } of tally.entries()) for (const id of activity.connectionIds) withRequests.add(id);
  const credentials: CredentialCache = new Map();
  const keptConnections: AnalyzedConnection[] = [];
  for (const c of connections) {
    const cert = c.clientCertificate;
    let credential = cert ? credentials.get(cert.sha256) : undefined;
    if (cert && !credential) credentials.set(cert.sha256, (credential = certificateCredential(cert)));
    if (filter?.active && !filter.client(c.client.ip)) continue;
    const certificateMatches = credential !== undefined && !filter?.byRequest && (filter?.credential(credential, window) ?? true);
    if (narrowed && !withRequests.has(c.id) && !certificateMatches) continue;
    keptConnections.push(c);
    if (credential && (!narrowed || certificateMatches || withRequests.has(c.id))) {
      tally.addConnection(credential, c.id, c.client.ip, c.startTimeSeconds, rejectingAlert(c.alert), c.identitySource);
    }
  }
  const nodesOf = new Map(connections.map((c) => [c.id, c.nodes]));
  for (const { activity } of tally.entries()) {
    activity.nodes = [...new Set(activity.connectionIds.flatMap((id) => nodesOf.get(id) ?? []))];
  }
  let identities = finishIdentities(tally, window);
  if (narrowed) identities = identities.filter((i) => filter!.credential(i, window) && (!filter!.byRequest || i.requests > 0));
  return {
    referenceTime: window.referenceTime,
    referenceTimeSource: options.referenceTimeSource ?? (options.referenceTimeSeconds === null ? 'now' : 'capture'),
    expiringWithinDays: options.expiringWithinDays,
    connections: keptConnections,
    // Completion order interleaves connections; people read them by start time.
    requests: [...requests].sort((a, b) => a.exchange.firstTimeSeconds - b.exchange.firstTimeSeconds),
    identities,
    warnings: expiryWarnings(identities, keptConnections, window),
  };
}

function expiryWarnings(identities: Identity[], connections: AnalyzedConnection[], window: ExpiryWindow): ExpiryWarning[] {
  const warnings: ExpiryWarning[] = [];
  for (const id of identities) {
    // Its time left was measured from the same reference when the identities were finished.
    if (id.expiringSoon && id.notAfter && id.secondsLeft !== null && id.daysLeft !== null) {
      warnings.push({
        kind: 'client', subject: id.certificate?.subject ?? id.user ?? id.description, notAfter: id.notAfter, daysLeft: id.daysLeft,
        message: `${id.description} of ${id.user ?? id.fingerprint} ${expiryText(id.secondsLeft)} (${id.notAfter})`,
      });
    }
  }
  const seen = new Set<string>();
  for (const c of connections) {
    const cert = c.serverCertificate;
    if (!cert || seen.has(cert.sha256)) continue;
    seen.add(cert.sha256);
    // The exact time left against the window, as for client identities: 30.5 days is not within 30.
    if (window.includes(cert.notAfter)) {
      const what = `server certificate of ${c.sni ?? `${c.server.ip}:${c.server.port}`}`;
      warnings.push({
        kind: 'server', subject: cert.subject, notAfter: cert.notAfter, daysLeft: window.daysLeft(cert.notAfter),
        message: `${what} ${expiryText(window.secondsLeft(cert.notAfter))} (${cert.notAfter})`,
      });
    }
  }
  return warnings;
}
