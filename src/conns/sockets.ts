import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { ipText, type Endpoint } from '../net/index.js';

export type { Endpoint } from '../net/index.js';

/** One TCP socket of /proc/PID/net/tcp or tcp6 (the network namespace of PID). */
export interface TcpSocket {
  local: Endpoint;
  remote: Endpoint;
  /** Kernel state: 1 is ESTABLISHED. */
  state: number;
  inode: number;
}

export const TCP_ESTABLISHED = 1;

/** `IP:PORT`, IPv6 in brackets, as the key line and the table print it. */
export const formatEndpoint = (e: Endpoint): string => (e.ip.includes(':') ? `[${e.ip}]:${e.port}` : `${e.ip}:${e.port}`);

/**
 * Parses /proc/net/tcp or tcp6. Addresses are hex words in host byte order (little-endian here), ports
 * big-endian hex. Lines that do not parse are skipped (the header, a truncated last line).
 */
export function parseTcpTable(text: string): TcpSocket[] {
  const sockets: TcpSocket[] = [];
  for (const line of text.split('\n')) {
    const m = /^\s*\d+: ([0-9A-F]+):([0-9A-F]{4}) ([0-9A-F]+):([0-9A-F]{4}) ([0-9A-F]{2}) \S+ \S+ \S+ +\d+ +\d+ +(\d+)/.exec(line);
    if (!m) continue;
    const local = endpoint(m[1]!, m[2]!);
    const remote = endpoint(m[3]!, m[4]!);
    if (!local || !remote) continue;
    sockets.push({ local, remote, state: Number.parseInt(m[5]!, 16), inode: Number(m[6]) });
  }
  return sockets;
}

function endpoint(hexIp: string, hexPort: string): Endpoint | undefined {
  if (hexIp.length !== 8 && hexIp.length !== 32) return undefined;
  const bytes = new Uint8Array(hexIp.length / 2);
  for (let w = 0; w < hexIp.length / 8; w++) {
    for (let b = 0; b < 4; b++) bytes[w * 4 + b] = Number.parseInt(hexIp.slice(w * 8 + (3 - b) * 2, w * 8 + (3 - b) * 2 + 2), 16);
  }
  return { ip: ipToString(bytes), port: Number.parseInt(hexPort, 16) };
}

/** 4 or 16 address bytes as text; an IPv4-mapped IPv6 address (::ffff:a.b.c.d) as IPv4, as Go's net.IP prints it. */
export function ipToString(bytes: Uint8Array): string {
  const mapped = bytes.length === 16 && bytes.subarray(0, 10).every((b) => b === 0) && bytes[10] === 0xff && bytes[11] === 0xff;
  return ipText(mapped ? bytes.subarray(12) : bytes);
}

/** Every TCP socket in PID's network namespace (IPv4 and IPv6 tables). */
export function tcpSockets(pid: number): TcpSocket[] {
  const read = (file: string): string => {
    try {
      return readFileSync(`/proc/${pid}/net/${file}`, 'latin1');
    } catch {
      return '';
    }
  };
  return [...parseTcpTable(read('tcp')), ...parseTcpTable(read('tcp6'))];
}

/** Socket inode → file descriptor numbers of a process (from /proc/PID/fd). */
export function socketFds(pid: number): Map<number, number[]> {
  const result = new Map<number, number[]>();
  let fds: string[];
  try {
    fds = readdirSync(`/proc/${pid}/fd`);
  } catch {
    return result;
  }
  for (const fd of fds) {
    let target: string;
    try {
      target = readlinkSync(`/proc/${pid}/fd/${fd}`);
    } catch {
      continue; // closed meanwhile
    }
    const m = /^socket:\[(\d+)\]$/.exec(target);
    if (!m) continue;
    const inode = Number(m[1]);
    result.set(inode, [...(result.get(inode) ?? []), Number(fd)]);
  }
  return result;
}

/** The socket inode behind one descriptor of a process, if it is a socket. */
export function socketInodeOfFd(pid: number, fd: number): number | undefined {
  try {
    const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

/** A target process's established TCP sockets: what `conns` must account for, one row each. */
export interface TargetSocket extends TcpSocket {
  fds: number[];
}

export function establishedSockets(pid: number): TargetSocket[] {
  const fds = socketFds(pid);
  return tcpSockets(pid)
    .filter((s) => s.state === TCP_ESTABLISHED && fds.has(s.inode))
    .map((s) => ({ ...s, fds: fds.get(s.inode)! }));
}
