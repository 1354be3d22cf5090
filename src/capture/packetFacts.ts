import { bytesToHex } from '../keylog/index.js';
import { TcpFlag, decodePacket, type Endpoint } from '../net/index.js';
import { clientHelloRandom } from '../pcap/client-randoms.js';
import type { PacketFacts } from './secretsOrderer.js';

/** TLS content types (change_cipher_spec … heartbeat) that may start a record. */
const FIRST_CONTENT_TYPE = 20;
const LAST_CONTENT_TYPE = 24;

/** What the orderer needs to know about one captured frame. */
export function packetFacts(linkType: number, frame: Uint8Array): PacketFacts {
  const segment = decodePacket(linkType, frame);
  if (!segment) return { conn: null, syn: false, clientRandom: null, tlsRecord: false, bytes: frame.length };
  const random = clientHelloRandom(segment.payload);
  return {
    conn: connectionId(segment.src, segment.dst),
    syn: (segment.flags & TcpFlag.SYN) !== 0,
    clientRandom: random ? bytesToHex(random) : null,
    tlsRecord: startsTlsRecord(segment.payload),
    bytes: frame.length,
  };
}

/** The same id for both directions of a connection. */
function connectionId(a: Endpoint, b: Endpoint): string {
  const ea = `${a.ip}|${a.port}`;
  const eb = `${b.ip}|${b.port}`;
  return ea < eb ? `${ea} ${eb}` : `${eb} ${ea}`;
}

/** A TLS record header: known content type and a 3.x version. */
function startsTlsRecord(payload: Uint8Array): boolean {
  return payload.length >= 5 && payload[0]! >= FIRST_CONTENT_TYPE && payload[0]! <= LAST_CONTENT_TYPE && payload[1] === 3 && payload[2]! <= 4;
}
