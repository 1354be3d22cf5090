import { bytesToHex } from '../keylog/index.js';
import { TcpFlag, connectionKey, decodePacket, type Endpoint } from '../net/index.js';
import { clientHelloRandomOf, isRecordHeader } from '../tls/index.js';
import type { PacketFacts } from './secretsOrderer.js';

/** What the orderer needs to know about one captured frame, and its TCP endpoints (null: not TCP). */
export interface CapturedPacketFacts extends PacketFacts {
  endpoints: [src: Endpoint, dst: Endpoint] | null;
}

export function packetFacts(linkType: number, frame: Uint8Array): CapturedPacketFacts {
  const segment = decodePacket(linkType, frame);
  if (!segment) return { conn: null, syn: false, clientRandom: null, tlsRecord: false, bytes: frame.length, endpoints: null };
  const random = clientHelloRandomOf(segment.payload);
  return {
    endpoints: [segment.src, segment.dst],
    conn: connectionKey(segment.src, segment.dst),
    syn: (segment.flags & TcpFlag.SYN) !== 0,
    clientRandom: random ? bytesToHex(random) : null,
    tlsRecord: isRecordHeader(segment.payload),
    bytes: frame.length,
  };
}
