import type { Endpoint } from '../net/index.js';
import { socketFds, tcpSockets, TCP_ESTABLISHED, type TcpSocket } from '../probe/sockets.js';

export type { Endpoint } from '../net/index.js';

/** `IP:PORT`, IPv6 in brackets, as the key line and the table print it. */
export const formatEndpoint = (e: Endpoint): string => (e.ip.includes(':') ? `[${e.ip}]:${e.port}` : `${e.ip}:${e.port}`);

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
