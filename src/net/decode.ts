import { u16, u32 } from './bytes.js';
import { decodeIp, IpProtocol, type IpPacket } from './ip.js';
import type { IpFragments } from './fragments.js';
import { EtherType, unwrapLink } from './link.js';
import type { TcpSegment } from './segment.js';
import { unwrapTunnel } from './tunnel.js';

/** Tunnels inside tunnels are followed this deep at most. */
const MAX_TUNNEL_DEPTH = 4;

/**
 * Decodes one captured frame down to its TCP segment, or null for anything else (other protocols, frames
 * too short to hold the headers). Tunnels (IP-in-IP, VXLAN, Geneve, GRE) are opened: the segment is the
 * innermost one. IPv4/IPv6 fragments are reassembled when `fragments` (one per capture) is given, else skipped.
 * The payload is a view into `frame`, or into the reassembled datagram.
 */
export function decodePacket(linkType: number, frame: Uint8Array, fragments?: IpFragments): TcpSegment | null {
  let network = unwrapLink(linkType, frame);
  let view = frame;
  for (let depth = 0; network && depth <= MAX_TUNNEL_DEPTH; depth++) {
    const ip = decodeIp(network.etherType, view, network.offset);
    if (!ip) return null;
    if (ip.fragment) {
      // Only the fragment that completes its datagram yields it (a new buffer), decoded from the start.
      const datagram = fragments?.add(view, network.offset, ip) ?? null;
      if (!datagram) return null;
      view = datagram;
      network = { etherType: datagram[0]! >> 4 === 6 ? EtherType.IPV6 : EtherType.IPV4, offset: 0 };
      continue;
    }
    if (ip.protocol === IpProtocol.TCP) return tcpSegment(view, ip);
    // An inner packet ends where the outer one was captured to, never in the outer link's padding.
    view = view.subarray(0, ip.capturedEnd);
    network = unwrapTunnel(view, ip);
  }
  return null;
}

function tcpSegment(frame: Uint8Array, ip: IpPacket): TcpSegment | null {
  const at = ip.offset;
  if (ip.capturedEnd < at + 20) return null;
  const headerLength = (frame[at + 12]! >> 4) * 4;
  if (headerLength < 20) return null;
  const payloadStart = at + headerLength;
  // A snap length may cut the TCP options too: the fixed header still tells where the payload belongs.
  const captured = Math.min(payloadStart, ip.capturedEnd);
  return {
    src: { ip: ip.src, port: u16(frame, at) },
    dst: { ip: ip.dst, port: u16(frame, at + 2) },
    seq: u32(frame, at + 4),
    ack: u32(frame, at + 8),
    flags: frame[at + 13]!,
    payload: frame.subarray(captured, ip.capturedEnd),
    payloadLength: Math.max(0, ip.declaredEnd - payloadStart),
  };
}
