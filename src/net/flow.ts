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

/**
 * The key of the connection between `a` and `b`, whichever sent. Per packet: one string is built, ordered by
 * comparing the addresses (the same string objects for a connection's packets, see ip.ts) and then the ports.
 */
export function connectionKey(a: Endpoint, b: Endpoint): string {
  const aFirst = a.ip === b.ip ? a.port <= b.port : a.ip < b.ip;
  return aFirst ? `${a.ip}|${a.port}|${b.ip}|${b.port}` : `${b.ip}|${b.port}|${a.ip}|${a.port}`;
}
