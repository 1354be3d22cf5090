/**
 * The TCP sockets of a process as the kernel lists them: /proc/PID/net/tcp and tcp6 (the process's own network
 * namespace), and the socket inodes the process holds in /proc/PID/fd. What `ss -tnp` shows. The one reader of
 * these tables: the presets, capture's own-traffic filter and conns build on it.
 */
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';
import path from 'node:path';
import { ipText, type Endpoint } from '../net/index.js';

/** TCP states as /proc/net/tcp numbers them (include/net/tcp_states.h). */
export const TCP_ESTABLISHED = 0x01;
export const TCP_LISTEN = 0x0a;

/** One row of /proc/PID/net/tcp or tcp6 (the network namespace of PID). */
export interface TcpSocket {
  local: Endpoint;
  remote: Endpoint;
  /** The kernel's TCP state (1 = ESTABLISHED, 0x0A = LISTEN). */
  state: number;
  inode: number;
}

/** 4 or 16 address bytes as text; an IPv4-mapped IPv6 address (::ffff:a.b.c.d) as IPv4, as Go's net.IP and packets name it. */
export function ipToString(bytes: Uint8Array): string {
  const mapped = bytes.length === 16 && bytes.subarray(0, 10).every((b) => b === 0) && bytes[10] === 0xff && bytes[11] === 0xff;
  return ipText(mapped ? bytes.subarray(12) : bytes);
}

/** `0100007F:1F90` (IPv4, host byte order per 32-bit word) or the 32-hex-digit IPv6 form. */
function parseProcAddress(text: string): Endpoint | undefined {
  const m = /^([0-9A-Fa-f]{8}|[0-9A-Fa-f]{32}):([0-9A-Fa-f]{4})$/.exec(text);
  if (!m) return undefined;
  const hex = m[1]!;
  const bytes = new Uint8Array(hex.length / 2);
  // The kernel prints each 32-bit word in host order: little-endian on the machines gokeylog supports.
  for (let w = 0; w < bytes.length / 4; w++) {
    for (let b = 0; b < 4; b++) bytes[w * 4 + b] = parseInt(hex.slice(w * 8 + (3 - b) * 2, w * 8 + (3 - b) * 2 + 2), 16);
  }
  return { ip: ipToString(bytes), port: parseInt(m[2]!, 16) };
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

/** Every TCP socket in PID's network namespace (IPv4 and IPv6 tables); empty tables for what cannot be read. */
export function tcpSockets(pid: number): TcpSocket[] {
  const read = (table: string): string => {
    try {
      return readFileSync(path.join('/proc', String(pid), 'net', table), 'latin1');
    } catch {
      return ''; // no IPv6 in that namespace, or the process is gone
    }
  };
  return [...parseProcTcp(read('tcp')), ...parseProcTcp(read('tcp6'))];
}

/** What /proc/PID/fd/N links to when N is a socket. */
const SOCKET_LINK = /^socket:\[(\d+)\]$/;

/** Socket inode → file descriptor numbers of a process (from /proc/PID/fd); empty if it is gone or not ours to read. */
export function socketFds(pid: number): Map<number, number[]> {
  const result = new Map<number, number[]>();
  const dir = path.join('/proc', String(pid), 'fd');
  let fds: string[];
  try {
    fds = readdirSync(dir);
  } catch {
    return result;
  }
  for (const fd of fds) {
    let target: string;
    try {
      target = readlinkSync(path.join(dir, fd));
    } catch {
      continue; // closed meanwhile
    }
    const m = SOCKET_LINK.exec(target);
    if (!m) continue;
    const inode = Number(m[1]);
    result.set(inode, [...(result.get(inode) ?? []), Number(fd)]);
  }
  return result;
}

/** The socket inode behind one descriptor of a process, if it is a socket. */
export function socketInodeOfFd(pid: number, fd: number): number | undefined {
  try {
    const m = SOCKET_LINK.exec(readlinkSync(path.join('/proc', String(pid), 'fd', String(fd))));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

/** The TCP sockets (IPv4 and IPv6) the process holds, as seen in its own network namespace. */
function processTcpSockets(pid: number): TcpSocket[] {
  const mine = socketFds(pid);
  if (mine.size === 0) return [];
  return tcpSockets(pid).filter((s) => mine.has(s.inode));
}

/** The ports a process listens on. */
export const listeningPorts = (pid: number): number[] => [...new Set(processTcpSockets(pid).filter((s) => s.state === TCP_LISTEN).map((s) => s.local.port))];
