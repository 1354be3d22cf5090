import { ExpiryWindow } from '../report/index.js';
import { cipherSuiteName } from '../tls/index.js';
import { createHash } from 'node:crypto';
import { canonicalIp, formatMidstreamLine, validateMidstreamSecret, type MidstreamSecret } from '../keylog/index.js';
import { PeerFinder, type PeerProcess } from './peers.js';
import { formatEndpoint, type Endpoint } from './sockets.js';
import type { SweepResult, SweptConn, SweptProcess } from './sweep.js';

/** The client certificate of a row (the peer's, when the target is the server), as `conns` prints it. */
export interface RowCertificate {
  commonName: string | null;
  organizations: string[];
  issuer: string;
  notBefore: string;
  notAfter: string;
  daysLeft: number;
  serialNumber: string;
  /** Colon-separated, as `openssl x509 -fingerprint -sha256` prints it. */
  sha256: string;
  /** `X509SHA256=<hex>`: kube-apiserver's audit log user.extra["authentication.kubernetes.io/credential-id"]. */
  credentialId: string;
  /** The DER, base64: `analyze --conns` reads it exactly as a certificate from a captured handshake. */
  der: string;
}

export interface ConnRow {
  pid: number;
  comm: string;
  /** tls: a validated live Conn; idle: an established socket with no TLS activity during the sweep. */
  status: 'tls' | 'idle' | 'layout-unknown';
  local: string;
  peer: string;
  peerProcess: PeerProcess | null;
  /** Which end the target is. */
  side: 'server' | 'client' | null;
  tlsVersion: string | null;
  cipherSuite: string | null;
  alpn: string | null;
  serverName: string | null;
  certificate: RowCertificate | null;
  /** What became of this connection's keys. */
  keys: string | null;
  expiring: boolean;
  note: string | null;
}

export interface RowsOptions {
  expiringWithinDays: number;
  /** When the sweep looked: days left and --expiring-within are measured from it. */
  nowSeconds: number;
}

const VERSION_NAMES: Record<number, string> = { 0x0301: 'TLS 1.0', 0x0302: 'TLS 1.1', 0x0303: 'TLS 1.2', 0x0304: 'TLS 1.3' };

/**
 * Why TLS 1.2 connections get no keys: Go keeps no master secret field in a Conn after the handshake; it lives
 * on only inside the exporter closure (Conn.ekm) and the record keys only inside the AEAD's expanded key
 * schedule, neither of which this version reads.
 */
const TLS12_KEYS = 'TLS 1.2: keys not recovered (after the handshake Go holds the master secret only inside the exporter closure and the record keys only in the AEAD key schedule; conns does not read those)';

/** One row per established socket of each target: its TLS connection when one was seen, else "idle, not seen". */
export function connRows(result: SweepResult, options: RowsOptions): ConnRow[] {
  const rows: ConnRow[] = [];
  const window = new ExpiryWindow(options.nowSeconds, options.expiringWithinDays);
  for (const p of result.processes) {
    const peers = new PeerFinder(p.pid);
    for (const c of p.conns) rows.push(tlsRow(p, c, peers, window));
    for (const s of p.idle) {
      const unknown = typeof p.layout === 'object' ? p.layout.unknown : null;
      rows.push({
        pid: p.pid, comm: p.comm, status: unknown ? 'layout-unknown' : 'idle', local: formatEndpoint(s.local), peer: formatEndpoint(s.remote),
        peerProcess: peers.find(s.local, s.remote), side: null, tlsVersion: null, cipherSuite: null, alpn: null, serverName: null,
        certificate: null, keys: null, expiring: false, note: unknown ?? 'idle, not seen: no TLS Read or Write during the sweep',
      });
    }
  }
  return rows.sort(byUrgency);
}

function tlsRow(p: SweptProcess, c: SweptConn, peers: PeerFinder, window: ExpiryWindow): ConnRow {
  const f = c.facts;
  const cert = f.peerCertificate;
  const der = f.peerCertificates[0];
  const certificate: RowCertificate | null = cert && der
    ? {
      commonName: cert.commonName, organizations: [...cert.organizations], issuer: cert.issuer, notBefore: cert.notBefore, notAfter: cert.notAfter,
      daysLeft: window.daysLeft(cert.notAfter), serialNumber: cert.serialNumber, sha256: cert.sha256,
      credentialId: `X509SHA256=${createHash('sha256').update(der).digest('hex')}`,
      der: Buffer.from(der).toString('base64'),
    }
    : null;
  return {
    pid: p.pid, comm: p.comm, status: 'tls', local: formatEndpoint(f.local), peer: formatEndpoint(f.remote), peerProcess: peers.find(f.local, f.remote),
    side: f.isClient ? 'client' : 'server', tlsVersion: VERSION_NAMES[f.vers] ?? `0x${f.vers.toString(16)}`, cipherSuite: cipherSuiteName(f.cipherSuite),
    alpn: f.alpn || null, serverName: f.serverName || null, certificate, keys: keysNote(c), expiring: certificate !== null && window.includes(certificate.notAfter),
    note: null,
  };
}

function keysNote(c: SweptConn): string {
  if (c.facts.vers !== 0x0304) return TLS12_KEYS;
  const dirs = directions(c).map((d) => `${d.direction} from record ${d.seq}`);
  return dirs.length === 2 ? `TLS 1.3 traffic secrets read: ${dirs.join(', ')}` : dirs.length === 1 ? `TLS 1.3 traffic secret read: ${dirs[0]} (the other direction sent nothing during the sweep)` : 'TLS 1.3: no record sent during the sweep, no secret read';
}

/** The mid-stream secrets of one connection, named by sender: the target's in-direction is its peer's. */
export function directions(c: SweptConn): MidstreamSecret[] {
  const f = c.facts;
  // The key line's form of an address (src/net's) is what analyze matches connections by.
  const canonical = (e: Endpoint): Endpoint => ({ ip: canonicalIp(e.ip) ?? e.ip, port: e.port });
  const [client, server] = (f.isClient ? [f.local, f.remote] : [f.remote, f.local]).map(canonical) as [Endpoint, Endpoint];
  const peerSide = f.isClient ? 'server' : 'client';
  const ownSide = f.isClient ? 'client' : 'server';
  const result: MidstreamSecret[] = [];
  for (const [at, direction] of [[c.in, peerSide], [c.out, ownSide]] as const) {
    if (at) result.push({ direction, suite: f.cipherSuite, client, server, seq: at.seq, secret: at.secret, timeNs: at.timeNs });
  }
  return result;
}

/**
 * The mid-stream key lines of a sweep: one per direction per TLS 1.3 connection whose secret was read. A secret
 * that would not parse back (never expected) is left out and said.
 */
export function midstreamKeyLines(result: SweepResult, notice: (message: string) => void): string[] {
  const lines: string[] = [];
  for (const d of result.processes.flatMap((p) => p.conns.flatMap(directions))) {
    const why = validateMidstreamSecret(d);
    if (why) notice(`not writing the ${d.direction} secret of ${d.client.ip}:${d.client.port}: ${why}`);
    else lines.push(formatMidstreamLine(d));
  }
  return lines;
}

/** Expiring identities first (soonest first), then other TLS connections by expiry, then those without identity, idle last. */
function byUrgency(a: ConnRow, b: ConnRow): number {
  const rank = (r: ConnRow): number => (r.expiring ? 0 : r.certificate ? 1 : r.status === 'tls' ? 2 : 3);
  return rank(a) - rank(b) || (a.certificate?.daysLeft ?? 0) - (b.certificate?.daysLeft ?? 0) || a.pid - b.pid || a.peer.localeCompare(b.peer);
}
