/**
 * JSON rendering. The shape of `connections[]` and `requests[]` is the documented contract (issue 5):
 * fields may be added, never renamed. Optional fields are omitted rather than null where the contract
 * marks them optional (reason, clientCertificate, serverCertificate).
 */
import { printableBody } from '../kube/credentials.js';
import type { CertificateInfo, MidstreamAlignment } from '../tls/index.js';
import { midstreamNote, type AnalyzedConnection, type AnalyzedRequest, type Identity, type MidstreamConnection, type Report } from './model.js';

export function connectionJson(c: AnalyzedConnection): Record<string, unknown> {
  const out: Record<string, unknown> = {
    id: c.id,
    client: { ip: c.client.ip, port: c.client.port },
    server: { ip: c.server.ip, port: c.server.port },
    sni: c.sni,
    alpn: c.alpn,
    tlsVersion: c.tlsVersion,
    cipherSuite: c.cipherSuite,
    decrypted: c.decrypted,
    nodes: c.nodes,
  };
  if (c.reason) out.reason = c.reason;
  if (c.rejected) out.rejected = c.rejected;
  if (c.alert) out.alert = c.alert;
  if (c.clientCertificate) out.clientCertificate = certificateJson(c.clientCertificate);
  if (c.serverCertificate) out.serverCertificate = certificateJson(c.serverCertificate);
  out.startTime = isoTime(c.startTimeSeconds);
  out.protocol = c.protocol;
  if (c.httpError) out.httpError = c.httpError;
  out.bytesToServer = c.bytesToServer;
  out.bytesToClient = c.bytesToClient;
  out.plaintextBytesToServer = c.plaintextBytesToServer;
  out.plaintextBytesToClient = c.plaintextBytesToClient;
  out.requestCount = c.requestCount;
  out.calls = c.calls;
  if (c.midstream) out.midstream = midstreamJson(c.midstream);
  if (c.identitySource) out.identityFrom = c.identitySource;
  return out;
}

/** Sequence numbers are 64-bit: strings, as JSON numbers lose precision past 2^53. */
function midstreamJson(m: MidstreamConnection): Record<string, unknown> {
  const side = (a: MidstreamAlignment): Record<string, unknown> => ({
    keySeq: a.keySeq === null ? null : a.keySeq.toString(),
    firstSeq: a.firstSeq,
    skippedBytes: a.skippedBytes,
    skippedRecords: a.skippedRecords,
    failure: a.failure,
  });
  return { note: midstreamNote(m), joinedAt: m.joinedAt, unrecoverableHeaderFields: m.unrecoverableHeaderFields, toServer: side(m.toServer), toClient: side(m.toClient) };
}

function certificateJson(cert: CertificateInfo): Record<string, unknown> {
  return {
    subject: cert.subject,
    commonName: cert.commonName,
    organizations: cert.organizations,
    issuer: cert.issuer,
    notBefore: cert.notBefore,
    notAfter: cert.notAfter,
    serialNumber: cert.serialNumber,
    sha256: cert.sha256,
    subjectAltNames: cert.subjectAltNames,
    credentialId: `X509SHA256=${cert.sha256.replace(/:/g, '').toLowerCase()}`,
    authorityKeyId: cert.authorityKeyId,
  };
}

export function requestJson(r: AnalyzedRequest): Record<string, unknown> {
  const e = r.exchange;
  const out: Record<string, unknown> = {
    time: isoTime(e.firstTimeSeconds),
    connectionId: r.connectionId,
    streamId: e.streamId,
    method: e.method ?? null,
    path: e.path ?? null,
    status: e.status ?? null,
    userAgent: e.userAgent ?? null,
    contentType: e.contentType ?? null,
    protocol: e.protocol,
    authority: e.authority ?? null,
    endTime: isoTime(e.lastTimeSeconds),
    requestBytes: e.requestBodyBytes,
    responseBytes: e.responseBodyBytes,
    complete: e.complete,
    user: r.user,
    groups: r.credential?.groups ?? null,
    credential: r.credential ? { kind: r.credential.kind, key: r.credential.key, credentialId: r.credential.credentialId, fingerprint: r.credential.fingerprint } : null,
    kube: r.kube,
  };
  if (e.contentEncoding) out.contentEncoding = e.contentEncoding;
  if (e.reset) out.reset = e.reset;
  if (e.grpcStatus !== undefined) out.grpcStatus = e.grpcStatus;
  if (e.grpcMessage !== undefined) out.grpcMessage = e.grpcMessage;
  if (e.responseBody) {
    // Text stays readable; anything else (protobuf, gRPC frames) is kept exact; credentials never.
    const body = printableBody(e.responseBody, e.contentType, r.kube);
    if (body === null) out.responseBodyWithheld = 'may hold credentials and is not JSON';
    else if ('text' in body) out.responseBody = body.text;
    else out.responseBodyBase64 = body.base64;
  }
  return out;
}

export function reportJson(report: Report): Record<string, unknown> {
  const { connections, ...rest } = reportJsonWithoutRequests(report);
  return { connections, requests: report.requests.map(requestJson), ...rest };
}

/** Everything but `requests`, for output that streamed the requests already. */
export function reportJsonWithoutRequests(report: Report): Record<string, unknown> {
  return {
    connections: report.connections.map(connectionJson),
    identities: report.identities.map(identityJson),
    warnings: report.warnings.map((w) => w.message),
    referenceTime: report.referenceTime,
    referenceTimeSource: report.referenceTimeSource,
    expiringWithinDays: report.expiringWithinDays,
  };
}

/** One identity: the credential (never its secret), where it stands on the reference time, and what it did. */
export function identityJson(i: Identity): Record<string, unknown> {
  return {
    user: i.user,
    groups: i.groups,
    kind: i.kind,
    credential: i.description,
    key: i.key,
    credentialId: i.credentialId,
    fingerprint: i.fingerprint,
    issuer: i.issuer,
    issuerKeyId: i.issuerKeyId,
    serialNumber: i.serialNumber,
    notBefore: i.notBefore,
    notAfter: i.notAfter,
    secondsLeft: i.secondsLeft,
    daysLeft: i.daysLeft,
    expired: i.expired,
    expiringSoon: i.expiringSoon,
    legacy: i.legacy,
    rejected: i.rejected,
    attention: i.attention,
    certificateSha256: i.certificate?.sha256 ?? null,
    token: i.token,
    connectionIds: i.connectionIds,
    identityFrom: i.sources,
    clients: i.clients,
    nodes: i.nodes,
    firstSeen: i.firstSeenSeconds === null ? null : isoTime(i.firstSeenSeconds),
    lastSeen: i.lastSeenSeconds === null ? null : isoTime(i.lastSeenSeconds),
    userAgents: i.userAgents,
    requests: i.requests,
    calls: i.calls,
    statuses: i.statuses,
  };
}

/** Seconds since the epoch → ISO 8601 with microseconds (capture times are finer than Date's ms). */
export function isoTime(seconds: number): string {
  const ms = Math.floor(seconds * 1000);
  const micros = Math.floor(seconds * 1e6) % 1000;
  const whole = Math.floor(ms / 1000);
  // Date formats the date and time of day once per second of capture (two per request otherwise).
  if (whole >= 0 && whole < LAST_FOUR_DIGIT_YEAR_SECOND) {
    if (whole !== cachedSecond) {
      cachedSecond = whole;
      cachedPrefix = new Date(whole * 1000).toISOString().slice(0, 19);
    }
    return `${cachedPrefix}.${String(ms - whole * 1000).padStart(3, '0')}${String(micros).padStart(3, '0')}Z`;
  }
  return new Date(ms).toISOString().replace('Z', `${String(micros).padStart(3, '0')}Z`);
}

/** 9999-12-31T23:59:59Z + 1 s: up to here toISOString writes a four-digit year ("YYYY-MM-DDTHH:MM:SS"). */
const LAST_FOUR_DIGIT_YEAR_SECOND = 253_402_300_800;
let cachedSecond = -1;
let cachedPrefix = '';
