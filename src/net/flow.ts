/**
 * Which connection a segment belongs to, and which way it travels (gopacket's Flow): the one key of a TCP
 * connection, the same for both directions, so that every table of connections agrees on it.
 */
import type { Endpoint } from './segment.js';

/** One direction of a TCP connection: from `src` to `dst`. */
export class TcpFlow {
  constructor(
    readonly src: Endpoint,
    readonly dst: Endpoint,
  ) {}

  /** The other direction of the same connection. */
  reverse(): TcpFlow {
    return new TcpFlow(this.dst, this.src);
  }

  /** The connection's key: equal for a flow and its reverse. */
  get connectionKey(): string {
    return connectionKey(this.src, this.dst);
  }
}

/** An endpoint as a map key. */
export function endpointKey(e: Endpoint): string {
  return `${e.ip}|${e.port}`;
}

/** The key of the connection between `a` and `b`, whichever sent (no allocation beyond the string: per packet). */
export function connectionKey(a: Endpoint, b: Endpoint): string {
  const x = endpointKey(a);
  const y = endpointKey(b);
  return x < y ? `${x}|${y}` : `${y}|${x}`;
}
