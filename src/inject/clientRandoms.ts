import { bytesToHex } from '../keylog/index.js';
import { decodePacket } from '../net/index.js';
import { forEachPacket, type ReadCaptureOptions } from '../pcap/index.js';
import { clientHelloRandomOf } from '../tls/index.js';

/**
 * The client randoms (hex) of every TLS ClientHello that starts a TCP segment in the capture: the connections
 * whose keys are worth keeping. A ClientHello is always the first bytes a client sends, so it starts a segment.
 */
export async function clientRandomsIn(source: string, opts: ReadCaptureOptions = {}): Promise<Set<string>> {
  const randoms = new Set<string>();
  await forEachPacket(source, (p) => {
    const segment = decodePacket(p.linkType, p.data);
    const random = segment && clientHelloRandomOf(segment.payload);
    if (random) randoms.add(bytesToHex(random));
  }, { ...opts, reuseChunks: true }); // nothing of a packet is kept but the random's hex
  return randoms;
}
