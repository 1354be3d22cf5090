import { decodeIp, IpProtocol } from './ip.js';
import { unwrapLink } from './link.js';
import type { TcpSegment } from './segment.js';

/**
 * Decodes one captured frame down to its TCP segment, or null for anything else (other protocols,
 * fragments, frames too short to hold the headers). The payload is a view into `frame`.
 */
export function decodePacket(linkType: number, frame: Uint8Array): TcpSegment | null {
  const link = unwrapLink(linkType, frame);
  if (!link) return null;
  const ip = decodeIp(link.etherType, frame, link.offset);
  if (!ip || ip.protocol !== IpProtocol.TCP) return null;
  const at = ip.offset;
  if (ip.capturedEnd < at + 20) return null;
  const headerLength = (frame[at + 12]! >> 4) * 4;
  if (headerLength < 20) return null;
  const payloadStart = at + headerLength;
  // A snap length may cut the TCP options too: the fixed header still tells where the payload belongs.
  const captured = Math.min(payloadStart, ip.capturedEnd);
  return {
    src: { ip: ip.src, port: (frame[at]! << 8) | frame[at + 1]! },
    dst: { ip: ip.dst, port: (frame[at + 2]! << 8) | frame[at + 3]! },
    seq: u32(frame, at + 4),
    ack: u32(frame, at + 8),
    flags: frame[at + 13]!,
    payload: frame.subarray(captured, ip.capturedEnd),
    payloadLength: Math.max(0, ip.declaredEnd - payloadStart),
  };
}

function u32(b: Uint8Array, at: number): number {
  return ((b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!) >>> 0;
}
