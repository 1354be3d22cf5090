/**
 * Identities: who a request authenticated as, as kube-apiserver decides it. A verified client certificate
 * comes first (CN = user, O = groups); without one, the bearer token (a JWT's claims, or an opaque token
 * named by its fingerprint) or Basic auth user; without any credential on a connection whose handshake was
 * seen, `system:anonymous` in `system:unauthenticated`. A certificate's identity carries its issuer and the
 * CA's key id, so a certificate with the admin's subject from another CA is a different identity; one the
 * server refused (a TLS alert in the handshake, 401/403 answers) says so.
 *
 * `IdentityTally` collects them as connections and requests complete, so that requests need not be kept.
 */
import type { CertificateInfo, TlsAlert } from '../tls/index.js';
import type { HttpExchange } from '../http/index.js';
import { headerValue } from '../http/index.js';
import type { ExpiryWindow } from './timeLeft.js';
import { parseAuthorization, queryToken, type JwtClaims, type RequestCredential } from '../kube/credentials.js';

export type CredentialKind = 'x509' | 'jwt' | 'bearer' | 'basic' | 'anonymous';

/** What a credential says about its holder, before anything is counted. */
export interface Credential {
  kind: CredentialKind;
  /**
   * Unique per credential: `X509SHA256=<hex>` for certificates (kube-apiserver's
   * `authentication.kubernetes.io/credential-id`), `token:<fingerprint>`, `basic:<fingerprint>`, `anonymous`.
   */
  key: string;
  /** The audit log's credential id: `X509SHA256=<hex>`, `JTI=<jti>` of a bound token; null when it records none. */
  credentialId: string | null;
  /** Certificates: hex SHA-256 of the DER (lowercase, no colons); tokens and Basic: first 16 hex of SHA-256 of the secret. */
  fingerprint: string | null;
  /** The user name the API server would see; null for an opaque token (only the server knows). */
  user: string | null;
  groups: string[];
  /** In words: "client certificate", "service-account token", "legacy service-account token", "JWT", "bearer token (opaque)", "basic auth user X", "anonymous". */
  description: string;
  /** Certificate issuer DN or the JWT's `iss`. */
  issuer: string | null;
  /** The signing CA's key id (certificates). */
  issuerKeyId: string | null;
  serialNumber: string | null;
  notBefore: string | null;
  /** Expiry (ISO 8601); null when the credential does not expire (legacy tokens) or cannot tell (opaque, Basic, anonymous). */
  notAfter: string | null;
  /** A token without `exp`: a legacy Secret-based service-account token never expires (KEP-2799 cleans them up). */
  legacy: boolean;
  certificate: CertificateInfo | null;
  token: JwtClaims | null;
}

export interface IdentityActivity {
  connectionIds: number[];
  /** Client IP addresses, in order of first appearance. */
  clients: string[];
  userAgents: string[];
  requests: number;
  /** "verb resource" (or "verb path") → count. */
  calls: Record<string, number>;
  /** Response status → count ("401": 3). */
  statuses: Record<string, number>;
  /** Capture times (seconds since the epoch) of the first and last connection or request seen with it. */
  firstSeenSeconds: number | null;
  lastSeenSeconds: number | null;
  /** The TLS alert with which the server refused the credential in the handshake (e.g. "certificate_expired"). */
  alert: string | null;
  /** Where its certificate was read: a handshake in the capture, the live process (analyze --conns), or both. */
  sources: Array<'handshake' | 'live process'>;
  /** The nodes (capture labels) its connections were seen on. */
  nodes: string[];
}

const hex = (colonHex: string): string => colonHex.replace(/:/g, '').toLowerCase();

export function certificateCredential(cert: CertificateInfo): Credential {
  const id = `X509SHA256=${hex(cert.sha256)}`;
  return {
    kind: 'x509',
    key: `${id}`,
    credentialId: id,
    fingerprint: hex(cert.sha256),
    user: cert.commonName ?? cert.subject,
    groups: [...cert.organizations],
    description: 'client certificate',
    issuer: cert.issuer,
    issuerKeyId: cert.authorityKeyId,
    serialNumber: cert.serialNumber,
    notBefore: cert.notBefore,
    notAfter: cert.notAfter,
    legacy: false,
    certificate: cert,
    token: null,
  };
}

export const ANONYMOUS: Credential = Object.freeze({
  kind: 'anonymous',
  key: 'anonymous',
  credentialId: null,
  fingerprint: null,
  user: 'system:anonymous',
  groups: Object.freeze(['system:unauthenticated']) as string[],
  description: 'anonymous (no credential)',
  issuer: null,
  issuerKeyId: null,
  serialNumber: null,
  notBefore: null,
  notAfter: null,
  legacy: false,
  certificate: null,
  token: null,
});

const iso = (seconds: number | null): string | null => (seconds === null ? null : new Date(seconds * 1000).toISOString());

export function tokenCredential(credential: RequestCredential): Credential {
  const base = {
    credentialId: null, fingerprint: credential.fingerprint, issuer: null, issuerKeyId: null, serialNumber: null,
    notBefore: null, notAfter: null, legacy: false, certificate: null, token: null,
  };
  if (credential.kind === 'basic') {
    return { ...base, kind: 'basic', key: `basic:${credential.fingerprint}`, user: credential.user, groups: [], description: `basic auth user ${credential.user}` };
  }
  if (credential.kind === 'bearer') {
    return { ...base, kind: 'bearer', key: `token:${credential.fingerprint}`, user: null, groups: [], description: 'bearer token (opaque)' };
  }
  const claims = credential.claims;
  const k8s = claims.kubernetes;
  const namespace = k8s?.namespace ?? /^system:serviceaccount:([^:]+):/.exec(claims.sub ?? '')?.[1] ?? null;
  const serviceAccount = k8s !== null || namespace !== null;
  const legacy = claims.exp === null;
  return {
    ...base,
    kind: 'jwt',
    key: `token:${credential.fingerprint}`,
    // kube-apiserver 1.32+ records a bound token's jti as its credential id.
    credentialId: claims.jti ? `JTI=${claims.jti}` : null,
    user: claims.sub,
    // The groups the service-account authenticator adds; other JWTs (OIDC) may carry a groups claim.
    groups: serviceAccount && namespace ? ['system:serviceaccounts', `system:serviceaccounts:${namespace}`] : [...claims.groups],
    description: serviceAccount ? (legacy ? 'legacy service-account token' : 'service-account token') : 'JWT',
    issuer: claims.iss,
    notBefore: iso(claims.nbf ?? claims.iat),
    notAfter: iso(claims.exp),
    legacy,
    token: claims,
  };
}

/** What a connection tells about the request's credential. */
export interface ConnectionAuth {
  clientCertificate: CertificateInfo | null;
  /** The handshake was read (or the connection is plain HTTP): no client certificate means none was sent. */
  handshakeKnown: boolean;
}

/**
 * The credential a request authenticated with, as kube-apiserver's authenticator chain picks it (x509 first,
 * then tokens, then anonymous); null when it cannot be known (the handshake was not captured).
 */
export function requestCredential(connection: ConnectionAuth, exchange: HttpExchange, cache: Map<string, Credential>): Credential | null {
  if (connection.clientCertificate) return cached(cache, connection.clientCertificate.sha256, () => certificateCredential(connection.clientCertificate!));
  const authorization = headerValue(exchange.requestHeaders, 'authorization');
  const fromQuery = authorization === undefined && exchange.path ? queryToken(exchange.path) : null;
  const parsed = authorization !== undefined ? parseAuthorization(authorization) : fromQuery ? parseAuthorization(`Bearer ${fromQuery}`) : null;
  if (parsed) return cached(cache, parsed.fingerprint, () => tokenCredential(parsed));
  return connection.handshakeKnown ? ANONYMOUS : null;
}

/** Credentials are shared by every request that carries them; a capture full of distinct tokens stays bounded. */
const MAX_CACHED_CREDENTIALS = 4096;

function cached(cache: Map<string, Credential>, key: string, make: () => Credential): Credential {
  let c = cache.get(key);
  if (!c) {
    c = make();
    if (cache.size >= MAX_CACHED_CREDENTIALS) cache.delete(cache.keys().next().value!);
    cache.set(key, c);
  }
  return c;
}

/** The alert that refused a connection's credentials: fatal, from the server, before it sent any data. */
export function rejectingAlert(alert: TlsAlert | null): string | null {
  return alert && alert.from === 'server' && alert.fatal && alert.duringHandshake ? alert.description : null;
}

/** Every identity seen, with what it did; fed as connections and requests complete. */
export class IdentityTally {
  readonly #identities = new Map<string, Entry>();

  #entry(credential: Credential): Entry {
    let e = this.#identities.get(credential.key);
    if (!e) {
      e = {
        credential,
        activity: { connectionIds: [], clients: [], userAgents: [], requests: 0, calls: {}, statuses: {}, firstSeenSeconds: null, lastSeenSeconds: null, alert: null, sources: [], nodes: [] },
        connections: new Set(),
      };
      this.#identities.set(credential.key, e);
    }
    return e;
  }

  /** A connection that presented a client certificate (requests or not), and whether the server refused it. */
  addConnection(credential: Credential, connectionId: number, clientIp: string, time: number, alert: string | null, source?: 'handshake' | 'live process'): void {
    const e = this.#entry(credential);
    const a = e.activity;
    if (source && !a.sources.includes(source)) a.sources.push(source);
    link(e, connectionId, clientIp);
    seen(a, time, time);
    if (alert) a.alert ??= alert;
  }

  addRequest(credential: Credential, connectionId: number, clientIp: string, exchange: HttpExchange, call: string): void {
    const e = this.#entry(credential);
    const a = e.activity;
    link(e, connectionId, clientIp);
    seen(a, exchange.firstTimeSeconds, exchange.lastTimeSeconds);
    a.requests += 1;
    const ua = exchange.userAgent;
    if (ua && !a.userAgents.includes(ua) && a.userAgents.length < MAX_LISTED) a.userAgents.push(ua);
    a.calls[call] = (a.calls[call] ?? 0) + 1;
    const status = exchange.status !== undefined ? String(exchange.status) : exchange.reset ? 'reset' : 'none';
    a.statuses[status] = (a.statuses[status] ?? 0) + 1;
  }

  get size(): number {
    return this.#identities.size;
  }

  entries(): Iterable<Pick<Entry, 'credential' | 'activity'>> {
    return this.#identities.values();
  }
}

/** User agents and client addresses listed per identity at most (a scanner trying 10k agents stays readable). */
const MAX_LISTED = 64;

interface Entry {
  credential: Credential;
  activity: IdentityActivity;
  /** The ids of activity.connectionIds: 100k connections of one identity must not make this quadratic. */
  connections: Set<number>;
}

function link(e: Entry, connectionId: number, clientIp: string): void {
  if (!e.connections.has(connectionId)) {
    e.connections.add(connectionId);
    e.activity.connectionIds.push(connectionId);
  }
  const clients = e.activity.clients;
  if (clients.length < MAX_LISTED && !clients.includes(clientIp)) clients.push(clientIp);
}

function seen(a: IdentityActivity, first: number, last: number): void {
  if (a.firstSeenSeconds === null || first < a.firstSeenSeconds) a.firstSeenSeconds = first;
  if (a.lastSeenSeconds === null || last > a.lastSeenSeconds) a.lastSeenSeconds = last;
}

/** An identity as the report shows it: the credential, what it did, and where it stands on the reference time. */
export interface Identity extends Credential, IdentityActivity {
  /** Seconds from the reference time to expiry (negative once expired); null when it does not expire or cannot tell. */
  secondsLeft: number | null;
  /** Whole days of `secondsLeft`, floored. */
  daysLeft: number | null;
  expired: boolean;
  /** Expires within the window (or expired). */
  expiringSoon: boolean;
  /** Why the server refused it: a TLS alert ("certificate_expired"), "401 Unauthorized" or "403 Forbidden"; null if it did not. */
  rejected: string | null;
  /** Why it is in the report's answers (expired, expiring, rejected, legacy), most urgent first; empty when nothing is wrong. */
  attention: string[];
}

export function finishIdentities(tally: IdentityTally, window: ExpiryWindow): Identity[] {
  const out: Identity[] = [];
  for (const { credential, activity } of tally.entries()) {
    const notAfter = credential.notAfter;
    const secondsLeft = notAfter === null ? null : window.secondsLeft(notAfter);
    const expired = secondsLeft !== null && secondsLeft < 0;
    const expiringSoon = notAfter !== null && window.includes(notAfter);
    const rejected = activity.alert ?? (activity.statuses['401'] ? '401 Unauthorized' : activity.statuses['403'] ? '403 Forbidden' : null);
    const attention: string[] = [];
    if (expired) attention.push('expired');
    else if (expiringSoon) attention.push('expiring');
    if (rejected) attention.push('rejected');
    if (credential.legacy) attention.push('legacy');
    out.push({
      ...credential,
      ...activity,
      secondsLeft,
      daysLeft: notAfter === null ? null : window.daysLeft(notAfter),
      expired,
      expiringSoon,
      rejected,
      attention,
    });
  }
  // Soonest expiry first; what never expires or cannot tell after; then by user, issuer.
  return out.sort((a, b) => (a.secondsLeft ?? Infinity) - (b.secondsLeft ?? Infinity) || (a.user ?? '\uffff').localeCompare(b.user ?? '\uffff') || (a.issuer ?? '').localeCompare(b.issuer ?? ''));
}
