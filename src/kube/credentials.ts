/**
 * Credentials a request carries besides its connection's client certificate: `Authorization: Bearer`
 * (a JWT, decoded but never verified, or an opaque token) and `Authorization: Basic`. Only what is safe to
 * print leaves this module: claims, a user name, and a fingerprint (the first 16 hex digits of SHA-256 of
 * the secret), never the token or password itself. Pure functions.
 */
import { createHash } from 'node:crypto';

/** Longer Authorization values are not decoded (Kubernetes' own limit on a header block is 1 MiB; real JWTs are < 4 KiB). */
const MAX_TOKEN_LENGTH = 64 * 1024;

/** The `kubernetes.io` claim of a bound service-account token (KEP-1205), and the legacy token's flat claims. */
export interface KubernetesClaims {
  namespace: string | null;
  serviceAccount: string | null;
  serviceAccountUid: string | null;
  pod: string | null;
  node: string | null;
  secret: string | null;
  /** Seconds since the epoch after which the API server warns that the (extended) token is stale. */
  warnAfter: number | null;
}

export interface JwtClaims {
  alg: string | null;
  kid: string | null;
  sub: string | null;
  iss: string | null;
  aud: string[];
  /** Seconds since the epoch. */
  iat: number | null;
  nbf: number | null;
  exp: number | null;
  jti: string | null;
  /** Present when the token is a Kubernetes service-account token (bound or legacy). */
  kubernetes: KubernetesClaims | null;
  /** OIDC-style `groups` claim, when it is a list of strings. */
  groups: string[];
}

export type RequestCredential =
  | { kind: 'jwt'; fingerprint: string; claims: JwtClaims }
  | { kind: 'bearer'; fingerprint: string }
  | { kind: 'basic'; fingerprint: string; user: string };

/** First 16 hex digits of SHA-256 of a secret: names it in reports without revealing it. */
export function secretFingerprint(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('hex').slice(0, 16);
}

/** The credential in an Authorization header value, or null when it is none we know (or empty). */
export function parseAuthorization(value: string): RequestCredential | null {
  const m = /^\s*(\S+)\s+(\S+)\s*$/.exec(value);
  if (!m) return null;
  const scheme = m[1]!.toLowerCase();
  const secret = m[2]!;
  if (secret.length > MAX_TOKEN_LENGTH) return scheme === 'bearer' ? { kind: 'bearer', fingerprint: secretFingerprint(secret) } : null;
  if (scheme === 'bearer') {
    const claims = decodeJwt(secret);
    return claims ? { kind: 'jwt', fingerprint: secretFingerprint(secret), claims } : { kind: 'bearer', fingerprint: secretFingerprint(secret) };
  }
  if (scheme === 'basic') {
    const decoded = Buffer.from(secret, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 0) return null;
    return { kind: 'basic', fingerprint: secretFingerprint(secret), user: decoded.slice(0, colon) };
  }
  return null;
}

/**
 * A JWT's header and claims (RFC 7519), or null when the token is not a JWT (three base64url parts whose
 * first two are JSON objects, the header naming an `alg`). The signature is neither checked nor kept.
 */
export function decodeJwt(token: string): JwtClaims | null {
  if (token.length > MAX_TOKEN_LENGTH) return null;
  const parts = token.split('.');
  if (parts.length !== 3 || !parts.every((p) => /^[A-Za-z0-9_-]*$/.test(p))) return null;
  const header = jsonObject(parts[0]!);
  const payload = jsonObject(parts[1]!);
  if (!header || !payload || typeof header.alg !== 'string') return null;
  const aud = payload.aud;
  return {
    alg: header.alg,
    kid: str(header.kid),
    sub: str(payload.sub),
    iss: str(payload.iss),
    aud: typeof aud === 'string' ? [aud] : Array.isArray(aud) ? aud.filter((a): a is string => typeof a === 'string') : [],
    iat: num(payload.iat),
    nbf: num(payload.nbf),
    exp: num(payload.exp),
    jti: str(payload.jti),
    kubernetes: kubernetesClaims(payload),
    groups: Array.isArray(payload.groups) ? payload.groups.filter((g): g is string => typeof g === 'string') : [],
  };
}

function kubernetesClaims(payload: Record<string, unknown>): KubernetesClaims | null {
  const bound = payload['kubernetes.io'];
  if (bound && typeof bound === 'object' && !Array.isArray(bound)) {
    const k = bound as Record<string, unknown>;
    const sa = obj(k.serviceaccount);
    return {
      namespace: str(k.namespace),
      serviceAccount: str(sa?.name),
      serviceAccountUid: str(sa?.uid),
      pod: str(obj(k.pod)?.name),
      node: str(obj(k.node)?.name),
      secret: str(obj(k.secret)?.name),
      warnAfter: num(k.warnafter),
    };
  }
  // Legacy Secret-based tokens (issuer "kubernetes/serviceaccount") spell the same facts as flat claims.
  const legacy = (name: string): string | null => str(payload[`kubernetes.io/serviceaccount/${name}`]);
  if (legacy('namespace') === null && legacy('service-account.name') === null) return null;
  return {
    namespace: legacy('namespace'),
    serviceAccount: legacy('service-account.name'),
    serviceAccountUid: legacy('service-account.uid'),
    pod: null,
    node: null,
    secret: legacy('secret.name'),
    warnAfter: null,
  };
}

function jsonObject(part: string): Record<string, unknown> | null {
  try {
    const value: unknown = JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
    return value && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);
const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);
const obj = (v: unknown): Record<string, unknown> | null => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : null);

/** Query parameters that carry credentials (websocket clients put the bearer token there: kubernetes#47740). */
const SECRET_PARAMETERS = /([?&;](?:access_token|id_token|refresh_token|token)=)[^&;#]*/gi;

export const REDACTED = 'REDACTED';

/** A request target with the values of credential query parameters replaced by REDACTED. */
export function redactPath(path: string): string {
  const q = path.indexOf('?');
  return q < 0 ? path : path.slice(0, q) + path.slice(q).replace(SECRET_PARAMETERS, `$1${REDACTED}`);
}

/** The secret a request target carries as a `token`/`access_token` parameter, as if it came in Authorization. */
export function queryToken(path: string): string | null {
  const q = path.indexOf('?');
  if (q < 0) return null;
  for (const pair of path.slice(q + 1).split(/[&;#]/)) {
    const eq = pair.indexOf('=');
    const name = pair.slice(0, eq).toLowerCase();
    if (eq > 0 && (name === 'access_token' || name === 'token')) {
      try {
        return decodeURIComponent(pair.slice(eq + 1));
      } catch {
        return pair.slice(eq + 1);
      }
    }
  }
  return null;
}

/** JSON keys whose values are credentials wherever they appear in a response (TokenRequest's status.token, …). */
const SECRET_KEYS = new Set(['token', 'access_token', 'id_token', 'refresh_token', 'password', 'client-key-data', 'token-data']);

/**
 * A response body as --bodies may print it: JSON with credential fields and Secret data REDACTED; a body that
 * may hold credentials but cannot be read as JSON (protobuf Secrets, TokenRequests) is withheld (null).
 */
export function printableBody(body: Buffer, contentType: string | undefined, what: { resource?: string; subresource?: string }): { text: string } | { base64: string } | null {
  const sensitive = what.resource === 'secrets' || what.subresource === 'token' || what.resource === 'tokenreviews' || what.resource === 'tokenrequests';
  if (/json/i.test(contentType ?? '')) {
    try {
      return { text: JSON.stringify(redactJson(JSON.parse(body.toString('utf8')) as unknown)) };
    } catch {
      return sensitive ? null : { text: body.toString('utf8') };
    }
  }
  if (sensitive) return null;
  return /yaml|text|xml/i.test(contentType ?? '') ? { text: body.toString('utf8') } : { base64: body.toString('base64') };
}

function redactJson(value: unknown, inSecret = false): unknown {
  if (Array.isArray(value)) return value.map((v) => redactJson(v, inSecret));
  if (!value || typeof value !== 'object') return value;
  const o = value as Record<string, unknown>;
  const secret = o.kind === 'Secret' || inSecret;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) {
    if (SECRET_KEYS.has(k.toLowerCase()) && (typeof v === 'string' || v === null)) out[k] = v === null ? null : REDACTED;
    else if (secret && (k === 'data' || k === 'stringData') && v && typeof v === 'object') out[k] = Object.fromEntries(Object.keys(v).map((key) => [key, REDACTED]));
    else out[k] = redactJson(v, o.kind === 'SecretList' && k === 'items');
  }
  return out;
}
