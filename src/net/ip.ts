import { u16, u32 } from './bytes.js';
import { EtherType } from './link.js';

/** IP protocol numbers we decode: TCP, and the tunnels that carry it. */
export const IpProtocol = { IPIP: 4, TCP: 6, UDP: 17, IPV6: 41, GRE: 47 } as const;

/** An IP packet's addresses and where its transport payload lies in the frame. */
export interface IpPacket {
  src: string;
  dst: string;
  protocol: number;
  /** Start of the transport header. */
  offset: number;
  /** End of the transport payload as captured (never past the frame, never into link-layer padding). */
  capturedEnd: number;
  /** End of the transport payload as the IP header declares it. */
  declaredEnd: number;
  /** For an IPv4 fragment: its datagram ID, byte offset and whether more follow; null otherwise. */
  fragment: IpFragment | null;
}

export interface IpFragment {
  id: number;
  /** Byte offset of this fragment's payload in the datagram. */
  offset: number;
  more: boolean;
  /** End of the part every fragment repeats (IPv4 header; IPv6 header and extensions before Fragment). */
  headerEnd: number;
  /** IPv6: where the next-header field that names the Fragment header is; -1 for IPv4. */
  nextHeaderAt: number;
}

/** Decodes an IPv4 or IPv6 header at `offset`. A fragment comes back with `fragment` set (see IpFragments). */
export function decodeIp(etherType: number, frame: Uint8Array, offset: number): IpPacket | null {
  if (etherType === EtherType.IPV4) return ipv4(frame, offset);
  if (etherType === EtherType.IPV6) return ipv6(frame, offset);
  return null;
}

function ipv4(frame: Uint8Array, at: number): IpPacket | null {
  if (frame.length < at + 20 || frame[at]! >> 4 !== 4) return null;
  const headerLength = (frame[at]! & 0x0f) * 4;
  if (headerLength < 20 || frame.length < at + headerLength) return null;
  const flagsAndFragment = u16(frame, at + 6);
  const more = (flagsAndFragment & 0x2000) !== 0;
  const fragmentOffset = (flagsAndFragment & 0x1fff) * 8;
  const fragment =
    more || fragmentOffset !== 0
      ? { id: u16(frame, at + 4), offset: fragmentOffset, more, headerEnd: at + headerLength, nextHeaderAt: -1 }
      : null;
  const totalLength = u16(frame, at + 2);
  // A total length of 0 is what segmentation offload leaves in locally captured giant packets.
  const declaredEnd = totalLength === 0 ? frame.length : at + totalLength;
  if (declaredEnd < at + headerLength) return null;
  return {
    src: ipv4Text(frame, at + 12),
    dst: ipv4Text(frame, at + 16),
    protocol: frame[at + 9]!,
    offset: at + headerLength,
    capturedEnd: Math.min(declaredEnd, frame.length),
    declaredEnd,
    fragment,
  };
}

const EXTENSION_HEADERS = new Set([0, 43, 60, 135, 139, 140]);
const FRAGMENT_HEADER = 44;
const AUTHENTICATION_HEADER = 51;

function ipv6(frame: Uint8Array, at: number): IpPacket | null {
  if (frame.length < at + 40 || frame[at]! >> 4 !== 6) return null;
  const payloadLength = u16(frame, at + 4);
  // Payload length 0 means a jumbogram (or offloaded giant packet): trust the frame.
  const declaredEnd = payloadLength === 0 ? frame.length : at + 40 + payloadLength;
  let nextAt = at + 6; // the next-header field of the header being walked
  let next = frame[nextAt]!;
  let offset = at + 40;
  let fragment: IpFragment | null = null;
  for (;;) {
    if (EXTENSION_HEADERS.has(next)) {
      if (frame.length < offset + 2) return null;
      const length = (frame[offset + 1]! + 1) * 8;
      nextAt = offset;
      next = frame[offset]!;
      offset += length;
    } else if (next === AUTHENTICATION_HEADER) {
      if (frame.length < offset + 2) return null;
      const length = (frame[offset + 1]! + 2) * 4;
      nextAt = offset;
      next = frame[offset]!;
      offset += length;
    } else if (next === FRAGMENT_HEADER) {
      if (frame.length < offset + 8 || fragment) return null;
      const offsetAndMore = u16(frame, offset + 2);
      // Offset 0 without "more": an atomic fragment, really a whole packet.
      if (offsetAndMore !== 0) {
        const id = u32(frame, offset + 4);
        fragment = { id, offset: offsetAndMore & 0xfff8, more: (offsetAndMore & 1) === 1, headerEnd: offset, nextHeaderAt: nextAt };
      }
      nextAt = offset;
      next = frame[offset]!;
      offset += 8;
      // Headers after the Fragment header belong to the fragmented part: only the first fragment has them.
      if (fragment) break;
    } else {
      break;
    }
    if (offset > declaredEnd || offset > frame.length) return null;
  }
  return {
    src: ipv6Text(frame, at + 8),
    dst: ipv6Text(frame, at + 24),
    protocol: next,
    offset,
    capturedEnd: Math.min(declaredEnd, frame.length),
    declaredEnd,
    fragment,
  };
}

/**
 * Dotted text of the IPv4 addresses seen, by value: a capture names few addresses, and every packet two.
 * Cached, a connection's packets share one string per address (cheap to compare and to hash as map keys).
 */
const ipv4Texts = new Map<number, string>();
const MAX_CACHED_ADDRESSES = 1 << 16;

function ipv4Text(b: Uint8Array, at: number): string {
  const value = u32(b, at);
  let text = ipv4Texts.get(value);
  if (text === undefined) {
    if (ipv4Texts.size >= MAX_CACHED_ADDRESSES) ipv4Texts.clear();
    text = `${b[at]}.${b[at + 1]}.${b[at + 2]}.${b[at + 3]}`;
    ipv4Texts.set(value, text);
  }
  return text;
}

/** 4 or 16 address bytes as text: dotted IPv4, or IPv6 as ipv6Text writes it. */
export const ipText = (b: Uint8Array): string => (b.length === 4 ? ipv4Text(b, 0) : ipv6Text(b, 0));

/** RFC 5952 text: lowercase, no leading zeros, the longest run (≥ 2) of zero groups written "::". */
export function ipv6Text(b: Uint8Array, at: number): string {
  const groups: number[] = [];
  for (let i = 0; i < 8; i++) groups.push(u16(b, at + 2 * i));
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  const hex = (g: number[]): string => g.map((x) => x.toString(16)).join(':');
  if (bestStart < 0) return hex(groups);
  const head = hex(groups.slice(0, bestStart));
  const tail = groups.slice(bestStart + bestLength);
  // IPv4-mapped addresses keep their dotted tail, as everyone prints them.
  if (bestStart === 0 && bestLength === 5 && groups[5] === 0xffff) {
    return `::ffff:${ipv4Text(b, at + 12)}`;
  }
  return `${head}::${hex(tail)}`;
}
