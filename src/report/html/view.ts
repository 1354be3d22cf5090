/**
 * What the HTML report draws, computed once from the Report: every identity (certificates, tokens, Basic
 * auth, anonymous) with the state it is drawn in, the servers' certificates for the timeline, the capture's
 * time span, and which identity each connection and request belongs to. Pure.
 */
import type { AnalyzedConnection, AnalyzedRequest, Identity, Report } from '../model.js';
import { DAY_MS, ExpiryWindow, expiryText } from '../timeLeft.js';

/** The colour a credential is drawn in: the most urgent thing about it. */
export type CredentialState = 'rejected' | 'expired' | 'legacy' | 'expiring' | 'valid' | 'unknown';

/** A credential on the expiry timeline. */
export interface TimelineMark {
  /** The user name, or what the credential is when the name is unknown ("bearer token (opaque)"). */
  name: string;
  server: boolean;
  notBeforeMs: number | null;
  notAfterMs: number | null;
  /** The colour it is drawn in: the first badge's. */
  state: CredentialState;
  /** Most urgent first: "rejected: certificate_expired", "expired 24 h ago", "legacy: never expires". */
  badges: { state: CredentialState; text: string }[];
  /** Where its row in the identities table is ("#cred-3"). */
  link: string | null;
}

export interface IdentityView extends TimelineMark {
  /** Element id of its row in the identities table ("cred-3"); only digits come from the data. */
  anchor: string;
  /** The term the connections and requests tables are filtered by to show this identity's rows. */
  filterTerm: string;
  identity: Identity;
  /** As the audit log names it (X509SHA256=…, JTI=…), else gokeylog's key for it (token:<fingerprint>). */
  credentialId: string;
}

export interface ReportView {
  report: Report;
  /** Expiry is measured from here (the capture, a time given with --now, or the clock). */
  referenceMs: number;
  /** When the report was rendered. */
  nowMs: number;
  windowMs: number;
  captureStartMs: number;
  captureEndMs: number;
  /** In the model's order: soonest expiry first. */
  identities: IdentityView[];
  /** The servers' certificates, drawn on the expiry timeline only. */
  serverCertificates: TimelineMark[];
  /** The identities an operator has to act on: rejected, expired, expiring within the window, legacy. */
  attention: IdentityView[];
  /** Its client certificate's identity, else those of the requests on it (tokens, Basic, anonymous). */
  identitiesOfConnection(c: AnalyzedConnection): IdentityView[];
  identityOfRequest(r: AnalyzedRequest): IdentityView | null;
}

const ms = (iso: string | null): number | null => (iso === null ? null : Date.parse(iso));

function badges(i: Identity): TimelineMark['badges'] {
  const out: TimelineMark['badges'] = [];
  if (i.rejected) out.push({ state: 'rejected', text: `rejected: ${i.rejected}` });
  if (i.secondsLeft !== null) out.push({ state: i.expired ? 'expired' : i.expiringSoon ? 'expiring' : 'valid', text: expiryText(i.secondsLeft) });
  else if (i.legacy) out.push({ state: 'legacy', text: 'legacy: never expires' });
  else out.push({ state: 'unknown', text: i.kind === 'anonymous' ? 'no credential' : 'expiry not in the credential' });
  return out;
}

function identityView(identity: Identity, n: number): IdentityView {
  const b = badges(identity);
  return {
    anchor: `cred-${n}`,
    filterTerm: `cred:${n}`,
    link: `#cred-${n}`,
    identity,
    server: false,
    name: identity.user ?? identity.description,
    credentialId: identity.credentialId ?? identity.key,
    notBeforeMs: ms(identity.notBefore),
    notAfterMs: ms(identity.notAfter),
    state: b[0]!.state,
    badges: b,
  };
}

export function reportView(report: Report, nowMs: number): ReportView {
  const window = new ExpiryWindow(Date.parse(report.referenceTime) / 1000, report.expiringWithinDays);
  const referenceMs = window.referenceMs;
  let captureStartMs = Infinity;
  let captureEndMs = -Infinity;
  const during = (t: number): void => {
    captureStartMs = Math.min(captureStartMs, t);
    captureEndMs = Math.max(captureEndMs, t);
  };
  for (const c of report.connections) during(c.startTimeSeconds * 1000);
  for (const r of report.requests) during(r.exchange.lastTimeSeconds * 1000);
  // Measured from the capture, the reference is a packet's time.
  if (report.referenceTimeSource === 'capture' || captureStartMs === Infinity) during(referenceMs);

  const identities = report.identities.map((identity, i) => identityView(identity, i + 1));
  const byKey = new Map(identities.map((v) => [v.identity.key, v]));
  const byCertificate = new Map(identities.filter((v) => v.identity.certificate).map((v) => [v.identity.certificate!.sha256, v]));

  const identityOfRequest = (r: AnalyzedRequest): IdentityView | null => (r.credential ? byKey.get(r.credential.key) ?? null : null);
  const byConnection = new Map<number, Set<IdentityView>>();
  for (const r of report.requests) {
    const v = identityOfRequest(r);
    if (!v) continue;
    const set = byConnection.get(r.connectionId) ?? new Set<IdentityView>();
    set.add(v);
    byConnection.set(r.connectionId, set);
  }

  const serverCertificates: TimelineMark[] = [];
  const servers = new Set<string>();
  for (const c of report.connections) {
    const cert = c.serverCertificate;
    if (!cert || servers.has(cert.sha256)) continue;
    servers.add(cert.sha256);
    const secondsLeft = window.secondsLeft(cert.notAfter);
    const state: CredentialState = secondsLeft < 0 ? 'expired' : window.includes(cert.notAfter) ? 'expiring' : 'valid';
    serverCertificates.push({
      name: cert.commonName ?? c.sni ?? `${c.server.ip}:${c.server.port}`,
      server: true,
      link: null,
      notBeforeMs: Date.parse(cert.notBefore),
      notAfterMs: Date.parse(cert.notAfter),
      state,
      badges: [{ state, text: expiryText(secondsLeft) }],
    });
  }

  return {
    report,
    referenceMs,
    nowMs,
    windowMs: report.expiringWithinDays * DAY_MS,
    captureStartMs,
    captureEndMs,
    identities,
    serverCertificates,
    attention: identities.filter((v) => v.identity.attention.length > 0),
    identitiesOfConnection: (c) => {
      const byCert = c.clientCertificate ? byCertificate.get(c.clientCertificate.sha256) : undefined;
      return byCert ? [byCert] : [...(byConnection.get(c.id) ?? [])];
    },
    identityOfRequest,
  };
}
