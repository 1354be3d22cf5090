import { u16 } from './bytes.js';
import { IpProtocol, type IpPacket } from './ip.js';
import { EtherType, ethernet, type NetworkPacket } from './link.js';

/**
 * The packet inside a tunnel, as Kubernetes networks carry pod traffic between nodes: IP-in-IP (Calico),
 * VXLAN (Flannel, Calico, Cilium), Geneve (Cilium, OVN), GRE. null when `ip` is no tunnel we know.
 * `frame` must end where the outer packet's capture ends.
 */
export function unwrapTunnel(frame: Uint8Array, ip: IpPacket): NetworkPacket | null {
  const at = ip.offset;
  switch (ip.protocol) {
    case IpProtocol.IPIP:
      return { etherType: EtherType.IPV4, offset: at };
    case IpProtocol.IPV6:
      return { etherType: EtherType.IPV6, offset: at };
    case IpProtocol.GRE:
      return gre(frame, at);
    case IpProtocol.UDP:
      return udpTunnel(frame, at);
    default:
      return null;
  }
}

const VXLAN_PORT = 4789;
const GENEVE_PORT = 6081;

function udpTunnel(frame: Uint8Array, at: number): NetworkPacket | null {
  if (frame.length < at + 16) return null;
  const dstPort = u16(frame, at + 2);
  const inner = at + 8;
  // VXLAN: flags (I bit = valid VNI), reserved, VNI, reserved; then an Ethernet frame.
  if (dstPort === VXLAN_PORT) return frame[inner]! & 0x08 ? ethernet(frame, inner + 8) : null;
  if (dstPort === GENEVE_PORT) {
    // Geneve: version + option length (4-byte words), flags, protocol type, VNI; then options.
    const optionsLength = (frame[inner]! & 0x3f) * 4;
    const protocol = u16(frame, inner + 2);
    return innerByEtherType(frame, protocol, inner + 8 + optionsLength);
  }
  return null;
}

/** GRE (RFC 2784/2890): flags and version, protocol type, then optional checksum, key and sequence. */
function gre(frame: Uint8Array, at: number): NetworkPacket | null {
  if (frame.length < at + 4) return null;
  const flags = frame[at]!;
  if ((frame[at + 1]! & 0x07) !== 0) return null; // version 0 only (1 is PPTP)
  const protocol = u16(frame, at + 2);
  const optional = (flags & 0x80 ? 4 : 0) + (flags & 0x20 ? 4 : 0) + (flags & 0x10 ? 4 : 0);
  return innerByEtherType(frame, protocol, at + 4 + optional);
}

function innerByEtherType(frame: Uint8Array, etherType: number, offset: number): NetworkPacket | null {
  if (offset > frame.length) return null;
  if (etherType === EtherType.TRANSPARENT_ETHERNET) return ethernet(frame, offset);
  if (etherType === EtherType.IPV4 || etherType === EtherType.IPV6) return { etherType, offset };
  return null;
}
