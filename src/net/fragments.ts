import type { IpPacket } from './ip.js';

/** Incomplete datagrams kept at most; the oldest is dropped beyond (its bytes become a gap). */
const MAX_DATAGRAMS = 1024;
const MAX_DATAGRAM_BYTES = 65535;

interface PartialDatagram {
  /** The part every fragment repeats, taken from the first fragment once it arrived. */
  header: Uint8Array | null;
  /** IPv6: the protocol after the Fragment header, and where in `header` to write it. */
  protocol: number;
  nextHeaderAt: number;
  parts: { offset: number; bytes: Uint8Array }[];
  /** Payload length, known from the last fragment; -1 before. */
  total: number;
}

/**
 * IP fragment reassembly across the frames of a capture (overlay networks with a wrong MTU fragment the
 * outer packets). Fragments are copied; a complete datagram comes back as a new buffer holding the same
 * packet unfragmented. Bounded: at most MAX_DATAGRAMS incomplete datagrams are kept.
 */
export class IpFragments {
  readonly #datagrams = new Map<string, PartialDatagram>();

  /** Adds the fragment `ip` (its header at `ipStart` in `frame`); returns the whole datagram once complete. */
  add(frame: Uint8Array, ipStart: number, ip: IpPacket): Uint8Array | null {
    const fragment = ip.fragment!;
    const key = `${ip.src}>${ip.dst}/${fragment.nextHeaderAt < 0 ? ip.protocol : 'v6'}/${fragment.id}`;
    // A fragment cut by the snap length cannot complete its datagram.
    if (ip.capturedEnd < ip.declaredEnd) {
      this.#datagrams.delete(key);
      return null;
    }
    let datagram = this.#datagrams.get(key);
    if (!datagram) {
      if (this.#datagrams.size >= MAX_DATAGRAMS) this.#datagrams.delete(this.#datagrams.keys().next().value!);
      datagram = { header: null, protocol: ip.protocol, nextHeaderAt: -1, parts: [], total: -1 };
      this.#datagrams.set(key, datagram);
    }
    const bytes = frame.slice(ip.offset, ip.capturedEnd);
    if (fragment.offset + bytes.length > MAX_DATAGRAM_BYTES) {
      this.#datagrams.delete(key);
      return null;
    }
    datagram.parts.push({ offset: fragment.offset, bytes });
    if (fragment.offset === 0) {
      datagram.header = frame.slice(ipStart, fragment.headerEnd);
      datagram.protocol = frame[fragment.headerEnd] ?? ip.protocol;
      datagram.nextHeaderAt = fragment.nextHeaderAt < 0 ? -1 : fragment.nextHeaderAt - ipStart;
    }
    if (!fragment.more) datagram.total = fragment.offset + bytes.length;
    const whole = assemble(datagram);
    if (whole) this.#datagrams.delete(key);
    return whole;
  }
}

/** The reassembled packet when the header, the end and every byte between are there; else null. */
function assemble(datagram: PartialDatagram): Uint8Array | null {
  if (!datagram.header || datagram.total < 0) return null;
  const parts = [...datagram.parts].sort((a, b) => a.offset - b.offset);
  let covered = 0;
  for (const part of parts) {
    if (part.offset > covered) return null;
    covered = Math.max(covered, part.offset + part.bytes.length);
  }
  if (covered < datagram.total) return null;
  const header = datagram.header;
  const packet = new Uint8Array(header.length + datagram.total);
  packet.set(header);
  for (const part of parts) packet.set(part.bytes.subarray(0, datagram.total - part.offset), header.length + part.offset);
  if (datagram.nextHeaderAt < 0) {
    packet[2] = packet.length >> 8;
    packet[3] = packet.length & 0xff;
    packet[6]! &= 0x40; // keep DF, clear MF and the fragment offset
    packet[7] = 0;
  } else {
    // IPv6: drop the Fragment header by pointing its predecessor at what it carried.
    packet[datagram.nextHeaderAt] = datagram.protocol;
    const payloadLength = packet.length - 40;
    packet[4] = payloadLength >> 8;
    packet[5] = payloadLength & 0xff;
  }
  return packet;
}
