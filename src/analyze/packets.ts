/**
 * The packet path of every analysis, wired once: captured frames → IPv4/IPv6 fragment reassembly → TCP
 * reassembly (client/server of connections joined in the middle told by the TLS hellos) → one consumer per
 * connection, whose TLS is decrypted by `tlsConnectionFor`. Per run, as the captures are one stream:
 * fragments and resumed TLS 1.2 sessions may span files. Times are capture times in ns since the epoch.
 */
import { decodePacket, IpFragments, TcpReassembler, type ConnectionInfo, type StreamConsumer } from '../net/index.js';
import { Tls12SessionCache, TlsConnection, tlsHelloSender, type KeySource, type TlsSink } from '../tls/index.js';

export class PacketPipeline {
  readonly #fragments = new IpFragments();
  readonly #sessions = new Tls12SessionCache();
  readonly #reassembler: TcpReassembler;

  /** `onConnection` makes the consumer of each new connection (`sessions`: for its tlsConnectionFor). */
  constructor(onConnection: (info: ConnectionInfo, sessions: Tls12SessionCache) => StreamConsumer) {
    this.#reassembler = new TcpReassembler({ onConnection: (info) => onConnection(info, this.#sessions) }, { senderHeuristics: [tlsHelloSender] });
  }

  /** One captured frame, in capture order (read only during the call); the consumer of its connection, if any. */
  push(linkType: number, frame: Uint8Array, timeNs: bigint): StreamConsumer | undefined {
    const segment = decodePacket(linkType, frame, this.#fragments);
    return segment ? this.#reassembler.push(segment, timeNs) : undefined;
  }

  /** End of the captures: every open connection ends. */
  finish(): void {
    this.#reassembler.finish();
  }
}

/** The TLS of one connection, decrypted as analyze decrypts it. */
export function tlsConnectionFor(info: ConnectionInfo, keys: KeySource, sessions: Tls12SessionCache, sink: TlsSink): TlsConnection {
  return new TlsConnection(keys, sink, { joinedMidStream: !info.synSeen, sessions });
}
