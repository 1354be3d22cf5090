/**
 * The TCP sockets of a process as the kernel lists them: /proc/PID/net/tcp and tcp6 (the process's own network
 * namespace), kept to the sockets whose inodes the process holds in /proc/PID/fd. What `ss -tnp` shows.
 */
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';
import path from 'node:path';

/** TCP states as /proc/net/tcp numbers them (include/net/tcp_states.h). */
export const TCP_ESTABLISHED = 0x01;
export const TCP_LISTEN = 0x0a;

export interface SocketAddress {
  /** Dotted IPv4, or IPv6 in its compressed form (IPv4-mapped shown as ::ffff:a.b.c.d). */
  ip: string;
  port: number;
}

export interface TcpSocket {
  local: SocketAddress;
  remote: SocketAddress;
  state: number;
  inode: number;
}

/** `0100007F:1F90` (IPv4, host byte order per 32-bit word) or the 32-hex-digit IPv6 form. */
export function parseProcAddress(text: string): SocketAddress | undefined {
  const m = /^([0-9A-Fa-f]{8}|[0-9A-Fa-f]{32}):([0-9A-Fa-f]{4})$/.exec(text);
  if (!m) return undefined;
  const hex = m[1]!;
  const port = parseInt(m[2]!, 16);
  // The kernel prints each 32-bit word in host order: little-endian on the machines gokeylog supports.
  const words: number[] = [];
  for (let i = 0; i < hex.length; i += 8) {
    const w = hex.slice(i, i + 8);
    words.push(parseInt(w.slice(6, 8) + w.slice(4, 6) + w.slice(2, 4) + w.slice(0, 2), 16));
  }
  if (words.length === 1) return { ip: ipv4(words[0]!), port };
  if (words[0] === 0 && words[1] === 0 && words[2] === 0xffff) return { ip: `::ffff:${ipv4(words[3]!)}`, port };
  return { ip: ipv6(words), port };
}

const ipv4 = (w: number): string => [w >>> 24, (w >>> 16) & 255, (w >>> 8) & 255, w & 255].join('.');

function ipv6(words: number[]): string {
  const groups = words.flatMap((w) => [(w >>> 16).toString(16), (w & 0xffff).toString(16)]);
  // RFC 5952: the longest run of two or more zero groups becomes "::".
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== '0') { i++; continue; }
    let j = i;
    while (j < 8 && groups[j] === '0') j++;
    if (j - i > bestLen) { best = i; bestLen = j - i; }
    i = j;
  }
  if (best < 0) return groups.join(':');
  return `${groups.slice(0, best).join(':')}::${groups.slice(best + bestLen).join(':')}`;
}

/** The rows of one /proc/net/tcp-format table (the header line and malformed rows are skipped). */
export function parseProcTcp(text: string): TcpSocket[] {
  const sockets: TcpSocket[] = [];
  for (const line of text.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 10) continue;
    const local = parseProcAddress(f[1]!);
    const remote = parseProcAddress(f[2]!);
    const state = parseInt(f[3]!, 16);
    const inode = Number(f[9]);
    if (local && remote && Number.isFinite(state) && Number.isSafeInteger(inode)) sockets.push({ local, remote, state, inode });
  }
  return sockets;
}

/** Socket inodes among a process's open files (`socket:[123]`); empty if it is gone or not ours to read. */
export function socketInodes(pid: number): Set<number> {
  const inodes = new Set<number>();
  const dir = path.join('/proc', String(pid), 'fd');
  let fds: string[];
  try {
    fds = readdirSync(dir);
  } catch {
    return inodes;
  }
  for (const fd of fds) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(path.join(dir, fd)));
      if (m) inodes.add(Number(m[1]));
    } catch {
      // closed meanwhile
    }
  }
  return inodes;
}

/** The TCP sockets (IPv4 and IPv6) the process holds, as seen in its own network namespace. */
export function processTcpSockets(pid: number): TcpSocket[] {
  const mine = socketInodes(pid);
  if (mine.size === 0) return [];
  const sockets: TcpSocket[] = [];
  for (const table of ['tcp', 'tcp6']) {
    try {
      for (const s of parseProcTcp(readFileSync(path.join('/proc', String(pid), 'net', table), 'latin1'))) if (mine.has(s.inode)) sockets.push(s);
    } catch {
      // no IPv6 in that namespace, or the process is gone
    }
  }
  return sockets;
}

/** The ports a process listens on. */
export const listeningPorts = (pid: number): number[] => [...new Set(processTcpSockets(pid).filter((s) => s.state === TCP_LISTEN).map((s) => s.local.port))];
