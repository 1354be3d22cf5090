/**
 * Mid-stream TLS 1.3 secrets: the traffic secret of one direction of a connection whose handshake was not
 * seen, read from the live process, with the record sequence number it had at that instant and the
 * connection's addresses. TLS 1.3 nonces are iv XOR seq, so a secret is useless without its sequence number,
 * and the NSS key log has no field for either (nor a client random to key it by): the line is a comment,
 *
 *   # GOKEYLOG_MIDSTREAM v=1 dir=client suite=0x1301 client=10.0.0.2:51234 server=[fd00::1]:6443 seq=17 secret=<hex> time=2026-12-01T20:40:40.123456789Z
 *
 * which Wireshark and tshark skip like every `#` line (key log file and pcapng DSB alike), so the NSS lines
 * around it keep working. `dir` names the sender (client: CLIENT_TRAFFIC_SECRET_N); `seq` is the sequence
 * number of the NEXT record that sender protects with this secret; `time` is when it was read (UTC, ns).
 */
import { SocketAddress, isIPv4 } from 'node:net';
import type { Endpoint } from '../net/index.js';
import { ipv6Text } from '../net/ip.js';
import { bytesToHex, hexToBytes } from './hex.js';

export const MIDSTREAM_LINE_PREFIX = '# GOKEYLOG_MIDSTREAM';
const VERSION = '1';

/** Which side sent the records this secret protects. */
export type MidstreamDirection = 'client' | 'server';

export interface MidstreamSecret {
  direction: MidstreamDirection;
  /** TLS 1.3 cipher suite code (0x1301 …). */
  suite: number;
  client: Endpoint;
  server: Endpoint;
  /** Sequence number of the next record the sender protects with `secret` (TLS: unsigned 64-bit). */
  seq: bigint;
  secret: Uint8Array;
  /** When the secret was read, ns since the epoch. */
  timeNs: bigint;
}

/** TLS 1.3 suites and their secret (hash) length. */
const SECRET_LENGTH = new Map<number, number>([
  [0x1301, 32],
  [0x1302, 48],
  [0x1303, 32],
  [0x1304, 32],
  [0x1305, 32],
]);

/** Longer lines are not ours (the longest valid one is ~330 characters). */
const MAX_LINE_LENGTH = 1024;
const MAX_SEQ = (1n << 64n) - 1n;
const FIELDS = ['v', 'dir', 'suite', 'client', 'server', 'seq', 'secret', 'time'] as const;

/** True for a line that claims to be a mid-stream secret (it may still be malformed). */
export function isMidstreamLine(line: string): boolean {
  return line.startsWith(MIDSTREAM_LINE_PREFIX) && (line.length === MIDSTREAM_LINE_PREFIX.length || /\s/.test(line[MIDSTREAM_LINE_PREFIX.length]!));
}

/** Why `s` cannot be written as a mid-stream line, or null if it can. */
export function validateMidstreamSecret(s: MidstreamSecret): string | null {
  if (s.direction !== 'client' && s.direction !== 'server') return `direction must be client or server`;
  const length = SECRET_LENGTH.get(s.suite);
  if (length === undefined) return `cipher suite 0x${s.suite.toString(16)} is not a TLS 1.3 suite`;
  if (s.secret.length !== length) return `secret is ${s.secret.length} bytes, expected ${length} for suite ${suiteText(s.suite)}`;
  if (s.seq < 0n || s.seq > MAX_SEQ) return 'sequence number out of range';
  if (s.timeNs < 0n) return 'time before 1970';
  for (const [name, e] of [['client', s.client], ['server', s.server]] as const) {
    if (canonicalIp(e.ip) !== e.ip) return `${name} address ${JSON.stringify(e.ip)} is not a canonical IP address`;
    if (!Number.isInteger(e.port) || e.port < 1 || e.port > 65535) return `${name} port ${e.port} out of range`;
  }
  return null;
}

/** The line (without a newline). Throws on values that would not parse back: callers validate first. */
export function formatMidstreamLine(s: MidstreamSecret): string {
  const why = validateMidstreamSecret(s);
  if (why) throw new Error(`cannot format a mid-stream secret: ${why}`);
  return (
    `${MIDSTREAM_LINE_PREFIX} v=${VERSION} dir=${s.direction} suite=${suiteText(s.suite)} client=${endpointText(s.client)} ` +
    `server=${endpointText(s.server)} seq=${s.seq} secret=${bytesToHex(s.secret)} time=${formatRfc3339Ns(s.timeNs)}`
  );
}

/** Parses a line for which isMidstreamLine is true: the secret, or why the line is not valid. */
export function parseMidstreamLine(line: string): MidstreamSecret | string {
  if (line.length > MAX_LINE_LENGTH) return `mid-stream line longer than ${MAX_LINE_LENGTH} characters`;
  if (!isMidstreamLine(line)) return 'not a mid-stream line';
  const values = new Map<string, string>();
  for (const field of line.slice(MIDSTREAM_LINE_PREFIX.length).trim().split(/\s+/)) {
    const eq = field.indexOf('=');
    if (eq <= 0) return `mid-stream field ${JSON.stringify(field.slice(0, 40))} is not NAME=VALUE`;
    const name = field.slice(0, eq);
    if (values.has(name)) return `mid-stream field ${name} appears twice`;
    values.set(name, field.slice(eq + 1)); // names we do not know are later, additive fields: ignored
  }
  for (const name of FIELDS) if (!values.has(name)) return `mid-stream line has no ${name}=`;
  const get = (name: (typeof FIELDS)[number]): string => values.get(name)!;
  if (get('v') !== VERSION) return `mid-stream line version ${JSON.stringify(get('v').slice(0, 10))} is not supported (expected ${VERSION})`;
  const direction = get('dir');
  if (direction !== 'client' && direction !== 'server') return 'mid-stream dir= must be client or server';
  if (!/^0x[0-9a-fA-F]{4}$/.test(get('suite'))) return 'mid-stream suite= must be 0x followed by 4 hex digits';
  const suite = Number.parseInt(get('suite').slice(2), 16);
  const client = parseEndpoint(get('client'));
  if (typeof client === 'string') return `mid-stream client= ${client}`;
  const server = parseEndpoint(get('server'));
  if (typeof server === 'string') return `mid-stream server= ${server}`;
  if (!/^[0-9]{1,20}$/.test(get('seq'))) return 'mid-stream seq= must be a decimal number';
  const seq = BigInt(get('seq'));
  const secret = hexToBytes(get('secret'));
  if (!secret || secret.length === 0) return 'mid-stream secret= is not hex';
  const timeNs = parseRfc3339Ns(get('time'));
  if (timeNs === null) return 'mid-stream time= is not an RFC 3339 UTC time (YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ)';
  const s: MidstreamSecret = { direction, suite, client, server, seq, secret, timeNs };
  const why = validateMidstreamSecret(s);
  return why ? `mid-stream line: ${why}` : s;
}

/** RFC 3339 UTC with nanoseconds, e.g. 2026-12-01T20:40:40.123456789Z. */
export function formatRfc3339Ns(ns: bigint): string {
  const seconds = ns / 1_000_000_000n;
  const fraction = ns % 1_000_000_000n;
  const whole = new Date(Number(seconds) * 1000).toISOString().slice(0, 19);
  return `${whole}.${fraction.toString().padStart(9, '0')}Z`;
}

const RFC3339_UTC = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?Z$/;

/** ns since the epoch of an RFC 3339 UTC time (Z, up to 9 fraction digits), or null. */
export function parseRfc3339Ns(text: string): bigint | null {
  const m = RFC3339_UTC.exec(text);
  if (!m) return null;
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  const ms = Date.UTC(year, month - 1, day, hour, minute, second);
  const d = new Date(ms);
  // Date.UTC rolls 2026-02-30 over into March: a time that does not round-trip is not a real one.
  if (year < 1970 || d.getUTCFullYear() !== year || d.getUTCMonth() !== month - 1 || d.getUTCDate() !== day || d.getUTCHours() !== hour || d.getUTCMinutes() !== minute || d.getUTCSeconds() !== second) {
    return null;
  }
  return BigInt(ms / 1000) * 1_000_000_000n + BigInt((m[7] ?? '').padEnd(9, '0'));
}

/**
 * The form src/net prints an address in (IPv4 dotted, IPv6 RFC 5952 by src/net's own ipv6Text), or null when
 * it is not an IP address: key lines and captured packets must spell a 5-tuple the same way.
 */
export function canonicalIp(ip: string): string | null {
  if (isIPv4(ip)) return ip;
  if (ip.includes('%') || !ip.includes(':')) return null; // zone ids are not part of a 5-tuple
  try {
    new SocketAddress({ address: ip, family: 'ipv6' }); // validates; its own text differs (::a.b.c.d)
  } catch {
    return null;
  }
  return ipv6Text(ipv6Bytes(ip), 0);
}

/** The 16 bytes of an IPv6 address already known to be valid (groups, one "::", maybe a dotted tail). */
function ipv6Bytes(ip: string): Uint8Array {
  let text = ip;
  const dotted = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (dotted) {
    const [a, b, c, d] = dotted.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, dotted.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail] = text.split('::') as [string, string | undefined];
  const groups = (s: string | undefined): number[] => (s ? s.split(':').map((g) => Number.parseInt(g, 16)) : []);
  const h = groups(head);
  const t = groups(tail);
  const all = tail === undefined ? h : [...h, ...new Array<number>(8 - h.length - t.length).fill(0), ...t];
  const bytes = new Uint8Array(16);
  all.forEach((g, i) => {
    bytes[2 * i] = g >> 8;
    bytes[2 * i + 1] = g & 0xff;
  });
  return bytes;
}

/** `IPv4:PORT` or `[IPv6]:PORT` (the address kept in src/net's form), or why it is not one. */
export function parseEndpoint(text: string): Endpoint | string {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([0-9.]+)):([0-9]{1,5})$/.exec(text);
  if (!m) return 'must be IPv4:PORT or [IPv6]:PORT';
  const raw = m[1] ?? m[2]!;
  const ip = canonicalIp(raw);
  if (ip === null || (m[1] !== undefined) === isIPv4(raw)) return `has no valid IP address`;
  const port = Number(m[3]);
  if (port < 1 || port > 65535) return 'port out of range';
  return { ip, port };
}

function endpointText(e: Endpoint): string {
  return e.ip.includes(':') ? `[${e.ip}]:${e.port}` : `${e.ip}:${e.port}`;
}

function suiteText(suite: number): string {
  return `0x${suite.toString(16).padStart(4, '0')}`;
}
