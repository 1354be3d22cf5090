/**
 * Identities read from the live process: `gokeylog conns --json` output given to analyze with `--conns`.
 * A connection whose handshake is not in the capture gets its client certificate, ALPN and SNI from the
 * conns row of its 5-tuple, and the report says the identity came from the live process.
 *
 * The shape read (conns' JSON contract): `{ connections: [{ status: "tls", side: "server" | "client",
 * local: "IP:PORT", peer: "IP:PORT", alpn, serverName, tlsVersion, cipherSuite, certificate: { der?
 * (base64), commonName, organizations, issuer, notBefore, notAfter, serialNumber, sha256 } | null }] }`.
 * `certificate` is the connection's client certificate whichever side the target is; with `der` it is read
 * exactly as one from a captured handshake, without it from the fields conns printed.
 */
import { readFile, stat } from 'node:fs/promises';
import { parseEndpoint } from '../keylog/index.js';
import type { Endpoint } from '../net/index.js';
import { describeCertificate, type CertificateInfo } from '../tls/index.js';
import { errnoReason, fileErrorCode, GokeylogError } from '../util/errors.js';

/** What the live process said about one connection. */
export interface LiveConnection {
  client: Endpoint;
  server: Endpoint;
  pid: number | null;
  comm: string | null;
  alpn: string | null;
  sni: string | null;
  tlsVersion: string | null;
  cipherSuite: string | null;
  clientCertificate: CertificateInfo | null;
}

/** A conns inventory is a few hundred bytes per connection: anything this large is not one. */
const MAX_CONNS_FILE_BYTES = 256 << 20;

export class LiveConnections {
  readonly #byTuple = new Map<string, LiveConnection>();

  add(c: LiveConnection): void {
    this.#byTuple.set(tupleKey(c.client, c.server), c);
  }

  /** The row for this connection; `swapped` when the capture has its roles the other way round. */
  find(client: Endpoint, server: Endpoint): { live: LiveConnection; swapped: boolean } | undefined {
    const live = this.#byTuple.get(tupleKey(client, server));
    if (live) return { live, swapped: false };
    const other = this.#byTuple.get(tupleKey(server, client));
    return other ? { live: other, swapped: true } : undefined;
  }

  get size(): number {
    return this.#byTuple.size;
  }
}

const tupleKey = (client: Endpoint, server: Endpoint): string => `${client.ip} ${client.port} ${server.ip} ${server.port}`;

export async function readConnsFiles(paths: string[]): Promise<LiveConnections> {
  const live = new LiveConnections();
  for (const path of paths) {
    let text: string;
    try {
      if ((await stat(path)).size > MAX_CONNS_FILE_BYTES) throw new GokeylogError(`${path} is larger than any conns --json output.`, 'GOKEYLOG_ERR_BAD_CONNS');
      text = await readFile(path, 'utf8');
    } catch (err) {
      if (err instanceof GokeylogError) throw err;
      throw new GokeylogError(`cannot read ${path}: ${errnoReason(err)}.`, fileErrorCode(err), { cause: err });
    }
    for (const c of parseConnsJson(text, path)) live.add(c);
  }
  return live;
}

/** The TLS rows of one conns --json document; throws one sentence when it is not one. */
function parseConnsJson(text: string, name: string): LiveConnection[] {
  const notConns = (why: string): GokeylogError => new GokeylogError(`${name} is not gokeylog conns --json output (${why}).`, 'GOKEYLOG_ERR_BAD_CONNS');
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    throw notConns('not JSON');
  }
  const rows = (doc as { connections?: unknown } | null)?.connections;
  if (!Array.isArray(rows)) throw notConns('no "connections" list');
  const out: LiveConnection[] = [];
  rows.forEach((row: unknown, i) => {
    if (typeof row !== 'object' || row === null) throw notConns(`connections[${i}] is not an object`);
    const r = row as Record<string, unknown>;
    if (r.status !== 'tls') return; // idle sockets, layouts not known: nothing about TLS
    const local = typeof r.local === 'string' ? parseEndpoint(r.local) : 'missing';
    const peer = typeof r.peer === 'string' ? parseEndpoint(r.peer) : 'missing';
    if (typeof local === 'string' || typeof peer === 'string') throw notConns(`connections[${i}] has no local/peer IP:PORT`);
    if (r.side !== 'server' && r.side !== 'client') throw notConns(`connections[${i}].side is neither server nor client`);
    const [client, server] = r.side === 'server' ? [peer, local] : [local, peer];
    out.push({
      client,
      server,
      pid: typeof r.pid === 'number' ? r.pid : null,
      comm: str(r.comm),
      alpn: str(r.alpn),
      sni: str(r.serverName),
      tlsVersion: str(r.tlsVersion),
      cipherSuite: str(r.cipherSuite),
      clientCertificate: r.certificate ? certificateOf(r.certificate, () => notConns(`connections[${i}].certificate is incomplete`)) : null,
    });
  });
  return out;
}

const str = (v: unknown): string | null => (typeof v === 'string' && v !== '' ? v : null);

function certificateOf(value: unknown, bad: () => GokeylogError): CertificateInfo {
  const c = value as Record<string, unknown>;
  if (typeof c.der === 'string') {
    const info = describeCertificate(Buffer.from(c.der, 'base64'));
    if (!info) throw bad();
    return info;
  }
  const organizations = Array.isArray(c.organizations) && c.organizations.every((o) => typeof o === 'string') ? (c.organizations as string[]) : null;
  const fields = [c.issuer, c.notBefore, c.notAfter, c.serialNumber, c.sha256];
  if (!organizations || !fields.every((f) => typeof f === 'string') || (c.commonName !== null && typeof c.commonName !== 'string')) throw bad();
  if (Number.isNaN(Date.parse(c.notBefore as string)) || Number.isNaN(Date.parse(c.notAfter as string))) throw bad();
  const commonName = (c.commonName as string | null) ?? null;
  return Object.freeze({
    // The subject as conns printed its parts; the DER (and with it the SANs and the CA key id) was not given.
    subject: [...(commonName === null ? [] : [`CN=${commonName}`]), ...organizations.map((o) => `O=${o}`)].join(', '),
    commonName,
    organizations: Object.freeze([...organizations]) as string[],
    issuer: c.issuer as string,
    subjectAltNames: [],
    notBefore: new Date(c.notBefore as string).toISOString(),
    notAfter: new Date(c.notAfter as string).toISOString(),
    serialNumber: (c.serialNumber as string).toUpperCase(),
    sha256: (c.sha256 as string).toUpperCase(),
    authorityKeyId: null,
  });
}
