/**
 * Packets to TCP byte streams.
 *
 *   decodePacket(linkType, frame, fragments?) → TcpSegment | null   (fragments: one IpFragments per capture)
 *     Link layers: Ethernet (+802.1Q/QinQ), LINUX_SLL, LINUX_SLL2, RAW (IPv4/IPv6), NULL/LOOP.
 *     IPv4 with options, IPv6 with extension headers; IPv4 and IPv6 fragments are reassembled with
 *     `fragments` (else skipped: their bytes become a reported gap). Overlay tunnels are opened (IP-in-IP, VXLAN, Geneve, GRE), so pod traffic captured
 *     on a node's uplink decodes to its inner TCP segment. The payload is a view into `frame` (no copy).
 *
 *   new TcpReassembler({ onConnection(info) → StreamConsumer }, options?)
 *     .push(segment, timeNs)   in capture order
 *     .finish()                end of capture: closes every open connection
 *   Connections are keyed by 4-tuple (`connectionKey`, the same both ways; `TcpFlow` is one direction and
 *   its `reverse()`). Roles: the SYN sender is the client; seen from the middle, what the `senderHeuristics`
 *   an upper layer registers say of the first payload (src/tls's `tlsHelloSender`: the side that sends a
 *   ClientHello or receives a ServerHello), else an endpoint seen accepting connections, else the higher port.
 *   Each direction delivers in-order bytes to the consumer (`onData`); retransmissions and overlaps are
 *   trimmed, out-of-order segments are buffered, and a hole that cannot be filled is reported with `onGap`
 *   before the bytes after it: a stream is never silently joined across lost bytes. A hole is given up when
 *   the peer acknowledged the missing bytes and 16 more segments came, when the buffer of the direction
 *   (4 MiB) or of the whole capture (256 MiB) is full, at FIN/RST, or at the end.
 *   `onEnd` is called exactly once per connection (FIN from both sides, RST, eviction or `finish()`);
 *   closed connections are forgotten, idle ones (1 h of capture time) and the least recent beyond 200 000
 *   are evicted. Bytes given to `onData` are views valid only during the call.
 */
export type { Endpoint, TcpSegment } from './segment.js';
export { TcpFlag } from './segment.js';
export { decodePacket } from './decode.js';
export { ipText } from './ip.js';
export { LinkType } from './linkType.js';
export { IpFragments } from './fragments.js';
export { TcpReassembler } from './reassembler.js';
export { connectionKey, TcpFlow } from './flow.js';
export type { RolesFrom, SenderHeuristic } from './roles.js';
export type {
  Direction,
  ConnectionInfo,
  ConnectionEnd,
  StreamConsumer,
  ConnectionListener,
  ReassemblerOptions,
} from './reassembler.js';
