import { bytesToHex } from '../keylog/index.js';
import { decodePacket } from '../net/index.js';
import { forEachPacket, type ReadCaptureOptions } from './reader.js';

const TLS_HANDSHAKE = 22;
const CLIENT_HELLO = 1;
/** Record header (5) + handshake header (4) + legacy_version (2), then the 32-byte random. */
const RANDOM_OFFSET = 11;

/**
 * The client randoms (hex) of every TLS ClientHello that starts a TCP segment in the capture: the connections
 * whose keys are worth keeping. A ClientHello is always the first bytes a client sends, so it starts a segment.
 */
export async function clientRandomsIn(source: string, opts: ReadCaptureOptions = {}): Promise<Set<string>> {
  const randoms = new Set<string>();
  await forEachPacket(source, (p) => {
    const segment = decodePacket(p.linkType, p.data);
    const random = segment && clientHelloRandom(segment.payload);
    if (random) randoms.add(bytesToHex(random));
  }, { ...opts, reuseChunks: true }); // nothing of a packet is kept but the random's hex
  return randoms;
}

/** The random of a ClientHello at the start of `payload`, if that is what it holds. */
export function clientHelloRandom(payload: Uint8Array): Uint8Array | undefined {
  if (payload.length < RANDOM_OFFSET + 32) return undefined;
  if (payload[0] !== TLS_HANDSHAKE || payload[1] !== 3 || payload[5] !== CLIENT_HELLO) return undefined;
  return payload.subarray(RANDOM_OFFSET, RANDOM_OFFSET + 32);
}
