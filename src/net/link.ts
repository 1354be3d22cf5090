import { u16 } from './bytes.js';
import { LinkType } from './linkType.js';

/** Link layers: where the network-layer packet starts in a captured frame, and which protocol it is. */

export const EtherType = { IPV4: 0x0800, IPV6: 0x86dd, VLAN: 0x8100, QINQ: 0x88a8, VLAN_9100: 0x9100, TRANSPARENT_ETHERNET: 0x6558 } as const;

/** The network-layer packet inside a frame: its EtherType-style protocol and where it starts. */
export interface NetworkPacket {
  etherType: number;
  offset: number;
}

/** Finds the network packet in `frame`, or null for a frame that carries none we decode. */
export function unwrapLink(linkType: number, frame: Uint8Array): NetworkPacket | null {
  switch (linkType) {
    case LinkType.ETHERNET:
      return ethernet(frame);
    case LinkType.RAW:
      return byIpVersion(frame, 0);
    case LinkType.IPV4:
      return { etherType: EtherType.IPV4, offset: 0 };
    case LinkType.IPV6:
      return { etherType: EtherType.IPV6, offset: 0 };
    case LinkType.NULL:
    case LinkType.LOOP:
      return byIpVersion(frame, 4);
    case LinkType.LINUX_SLL:
      // 16 bytes: packet type, ARPHRD, address length, 8 address bytes, protocol (big-endian).
      return frame.length < 16 ? null : { etherType: u16(frame, 14), offset: 16 };
    case LinkType.LINUX_SLL2:
      // 20 bytes: protocol first, then reserved, interface index, ARPHRD, packet type, address.
      return frame.length < 20 ? null : { etherType: u16(frame, 0), offset: 20 };
    default:
      return null;
  }
}

/** An Ethernet header at `start` (0 in a capture, inside a VXLAN/Geneve/GRE tunnel otherwise). */
export function ethernet(frame: Uint8Array, start = 0): NetworkPacket | null {
  let offset = start + 12;
  if (frame.length < offset + 2) return null;
  let etherType = u16(frame, offset);
  offset += 2;
  // 802.1Q / 802.1ad tags, possibly stacked (QinQ): 2 bytes of tag control, then the next EtherType.
  while (etherType === EtherType.VLAN || etherType === EtherType.QINQ || etherType === EtherType.VLAN_9100) {
    if (frame.length < offset + 4) return null;
    etherType = u16(frame, offset + 2);
    offset += 4;
  }
  return { etherType, offset };
}

/** Raw IP (at 0) and BSD loopback (after a 4-byte address family whose byte order varies): judge by the IP version. */
function byIpVersion(frame: Uint8Array, offset: number): NetworkPacket | null {
  if (frame.length <= offset) return null;
  const version = frame[offset]! >> 4;
  if (version === 4) return { etherType: EtherType.IPV4, offset };
  if (version === 6) return { etherType: EtherType.IPV6, offset };
  return null;
}
