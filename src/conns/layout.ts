import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { GoArch } from '../golang/index.js';
import { goMinor } from '../golang/version.js';
import { dataDir } from '../util/dataDir.js';
import { errnoReason, fileErrorCode, GokeylogError } from '../util/errors.js';

/**
 * Where the fields `conns` reads sit in one Go release's structs, for one architecture: what
 * scripts/layouts (reflect + go/types + DWARF, see there) measured. Offsets are bytes from the struct's start.
 */
export interface StructLayout {
  size: number;
  fields: Record<string, number>;
}

export interface ArchLayout {
  arch: GoArch;
  /** How it was measured (reflect, go/types, checked against DWARF). */
  source: string;
  structs: Record<string, StructLayout>;
}

/** data/layouts/go1.X.json, written by scripts/gen-layouts.ts. */
export interface LayoutFile {
  release: string;
  goVersion: string;
  layouts: ArchLayout[];
}

/** The offsets `conns` uses, flattened from an ArchLayout and checked to be all there. */
export interface ConnLayout {
  /** Which table this is ("go1.25"), for messages. */
  release: string;
  arch: GoArch;
  conn: { conn: number; isClient: number; vers: number; cipherSuite: number; peerCertificates: number; serverName: number; clientProtocol: number; in: number; out: number; size: number };
  halfConn: { version: number; cipher: number; seq: number; trafficSecret: number };
  certificateRaw: number;
  tcpConnFd: number;
  netFD: { sysfd: number; family: number; sotype: number; laddr: number; raddr: number };
  tcpAddr: { ip: number; port: number; zone: number };
}

const layoutsDir = (): string => dataDir('layouts');

function field(a: ArchLayout, struct: string, name: string): number {
  const v = a.structs[struct]?.fields[name];
  if (!Number.isSafeInteger(v) || v! < 0 || v! > 4096) throw new GokeylogError(`layout table: ${struct}.${name} is missing or out of range.`, 'GOKEYLOG_ERR_BAD_LAYOUT');
  return v!;
}

/** Checks and flattens one architecture's table. */
function connLayout(release: string, a: ArchLayout): ConnLayout {
  const conn = (name: string): number => field(a, 'tls.Conn', name);
  const half = (name: string): number => field(a, 'tls.halfConn', name);
  return {
    release,
    arch: a.arch,
    conn: {
      conn: conn('conn'), isClient: conn('isClient'), vers: conn('vers'), cipherSuite: conn('cipherSuite'), peerCertificates: conn('peerCertificates'),
      serverName: conn('serverName'), clientProtocol: conn('clientProtocol'), in: conn('in'), out: conn('out'), size: a.structs['tls.Conn']?.size ?? 0,
    },
    halfConn: { version: half('version'), cipher: half('cipher'), seq: half('seq'), trafficSecret: half('trafficSecret') },
    certificateRaw: field(a, 'x509.Certificate', 'Raw'),
    // TCPConn{conn{fd *netFD}}: the netFD pointer is at conn.fd inside TCPConn.conn.
    tcpConnFd: field(a, 'net.TCPConn', 'conn') + field(a, 'net.conn', 'fd'),
    netFD: {
      sysfd: field(a, 'net.netFD', 'pfd') + field(a, 'poll.FD', 'Sysfd'),
      family: field(a, 'net.netFD', 'family'),
      sotype: field(a, 'net.netFD', 'sotype'),
      laddr: field(a, 'net.netFD', 'laddr'),
      raddr: field(a, 'net.netFD', 'raddr'),
    },
    tcpAddr: { ip: field(a, 'net.TCPAddr', 'IP'), port: field(a, 'net.TCPAddr', 'Port'), zone: field(a, 'net.TCPAddr', 'Zone') },
  };
}

/** Every shipped table, oldest release first. */
export function builtinLayouts(): LayoutFile[] {
  const dir = layoutsDir();
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .map((f) => JSON.parse(readFileSync(path.join(dir, f), 'utf8')) as LayoutFile)
    .sort((a, b) => (goMinor(`go${a.release}`) ?? 0) - (goMinor(`go${b.release}`) ?? 0));
}

/** A table given with --layout (a file scripts/layouts wrote, or a data/layouts file). */
export function readLayoutFile(file: string): LayoutFile {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    // A file that could not be read says why (errno); one that could is not JSON.
    const unread = (err as NodeJS.ErrnoException).code !== undefined;
    throw new GokeylogError(`cannot read the layout table ${file}: ${unread ? errnoReason(err) : 'not JSON'}.`, unread ? fileErrorCode(err) : 'GOKEYLOG_ERR_BAD_LAYOUT');
  }
  const f = parsed as Partial<LayoutFile> & { goVersion?: string };
  if (!f || !Array.isArray(f.layouts)) throw new GokeylogError(`${file} is not a layout table (no "layouts").`, 'GOKEYLOG_ERR_BAD_LAYOUT');
  const release = f.release ?? /^go(1\.\d+)/.exec(f.goVersion ?? '')?.[1];
  if (!release) throw new GokeylogError(`${file} does not say its Go release.`, 'GOKEYLOG_ERR_BAD_LAYOUT');
  return { release, goVersion: f.goVersion ?? `go${release}`, layouts: f.layouts };
}

/** The candidate layouts for a binary: its release's own, or else (to be validated unambiguously) its neighbours'. */
export interface LayoutChoice {
  exact: boolean;
  candidates: ConnLayout[];
}

export function chooseLayouts(goVersion: string, arch: GoArch, tables: LayoutFile[]): LayoutChoice {
  const forArch = (t: LayoutFile): ConnLayout[] => t.layouts.filter((l) => l.arch === arch).map((l) => connLayout(`go${t.release}`, l));
  const minorOf = (t: LayoutFile): number => goMinor(`go${t.release}`) ?? -1;
  // Only a range is known ("go1.20+", "go1.18-go1.19", from the pclntab format): every table in it is a candidate.
  const range = /^go1\.(\d+)(?:\+|-go1\.(\d+))$/.exec(goVersion);
  if (range) {
    const first = Number(range[1]);
    const last = range[2] === undefined ? Infinity : Number(range[2]);
    return { exact: false, candidates: tables.filter((t) => minorOf(t) >= first && minorOf(t) <= last).flatMap(forArch) };
  }
  const minor = goMinor(goVersion);
  if (minor === undefined) return { exact: false, candidates: [] };
  const exact = tables.find((t) => minorOf(t) === minor);
  if (exact) return { exact: true, candidates: forArch(exact) };
  // A release without a table of its own: the nearest below and above, which must then validate unambiguously.
  const below = tables.filter((t) => minorOf(t) < minor).at(-1);
  const above = tables.find((t) => minorOf(t) > minor);
  return { exact: false, candidates: [below, above].filter((t): t is LayoutFile => t !== undefined).flatMap(forArch) };
}

/** Two layouts that read the same bytes for every field are one candidate, not an ambiguity. */
export function sameOffsets(a: ConnLayout, b: ConnLayout): boolean {
  const strip = ({ release: _r, ...rest }: ConnLayout): string => JSON.stringify(rest);
  return strip(a) === strip(b);
}
