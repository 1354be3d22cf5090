import { bytesToHex } from '../keylog/index.js';
import { TcpFlag, decodePacket, type Endpoint } from '../net/index.js';
import { clientHelloRandomOf, isRecordHeader } from '../tls/index.js';
import type { PacketFacts } from './secretsOrderer.js';

/** What the orderer needs to know about one captured frame. */
export function packetFacts(linkType: number, frame: Uint8Array): PacketFacts {
  const segment = decodePacket(linkType, frame);
  if (!segment) return { conn: null, syn: false, clientRandom: null, tlsRecord: false, bytes: frame.length };
  const random = clientHelloRandomOf(segment.payload);
  return {
    conn: connectionId(segment.src, segment.dst),
    syn: (segment.flags & TcpFlag.SYN) !== 0,
    clientRandom: random ? bytesToHex(random) : null,
    tlsRecord: isRecordHeader(segment.payload),
    bytes: frame.length,
  };
}

/** The same id for both directions of a connection. */
function connectionId(a: Endpoint, b: Endpoint): string {
  const ea = `${a.ip}|${a.port}`;
  const eb = `${b.ip}|${b.port}`;
  return ea < eb ? `${ea} ${eb}` : `${eb} ${ea}`;
}
