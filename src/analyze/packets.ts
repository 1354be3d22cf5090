/**
 * The packet path of every analysis, wired once: captured frames → IPv4/IPv6 fragment reassembly → TCP
 * reassembly (client/server of connections joined in the middle told by the TLS hellos) → one consumer per
 * connection, whose TLS is decrypted by `tlsConnectionFor`. Per run, as the captures are one stream:
 * fragments and resumed TLS 1.2 sessions may span files. Times are capture times in ns since the epoch.
 *
 * What the reassembler delivers is queued and handed to the consumers at `flush`, in the same order: first
 * each consumer that can look ahead (LooksAhead) is shown the bytes it will get, so that it opens their TLS
 * records in batches (src/tls/batchOpen.ts) — one AEAD call per record was the largest cost of a capture —,
 * then every call is made as it came. Queued bytes are views: the frames pushed must stay intact until the
 * next flush (analyze's capture chunks are never reused).
 */
import { decodePacket, IpFragments, TcpReassembler, type ConnectionEnd, type ConnectionInfo, type Direction, type StreamConsumer } from '../net/index.js';
import { Tls12SessionCache, TlsConnection, tlsHelloSender, type KeySource, type TlsSink } from '../tls/index.js';

/** A consumer that can be shown its bytes before it is given them (TlsConnection and what wraps one). */
export interface LooksAhead {
  /** Bytes `onData` will get for `direction` later, in this order. */
  lookAhead(direction: Direction, bytes: Uint8Array): void;
  /** Everything of this flush was looked at: work on it now. */
  openAhead(): void;
}

/**
 * Calls and bytes queued at most before they are handed on: bounds what a batch keeps alive (young objects die
 * cheaply; 64 KiB frames of a loopback capture would otherwise hold 128 MiB of chunks).
 */
const MAX_QUEUED = 2048;
const MAX_QUEUED_BYTES = 8 << 20;

const DATA = 0;
const GAP = 1;
const END = 2;

/**
 * The calls queued since the last flush, as parallel arrays reused from flush to flush (no object per call):
 * the consumer's Deferred, the kind, the direction, the bytes (DATA), the count (GAP), the end (END), the time.
 */
class CallQueue {
  length = 0;
  /** Bytes of the DATA calls queued. */
  bytesQueued = 0;
  readonly to: Deferred[] = [];
  readonly kind: number[] = [];
  readonly direction: Direction[] = [];
  readonly bytes: (Uint8Array | null)[] = [];
  readonly count: number[] = [];
  readonly end: (ConnectionEnd | null)[] = [];
  readonly timeNs: bigint[] = [];

  push(to: Deferred, kind: number, direction: Direction, bytes: Uint8Array | null, count: number, end: ConnectionEnd | null, timeNs: bigint): void {
    const i = this.length++;
    if (bytes) this.bytesQueued += bytes.length;
    this.to[i] = to;
    this.kind[i] = kind;
    this.direction[i] = direction;
    this.bytes[i] = bytes;
    this.count[i] = count;
    this.end[i] = end;
    this.timeNs[i] = timeNs;
  }

  /** Forgets the calls (and what they held). */
  clear(): void {
    this.bytes.fill(null, 0, this.length);
    this.end.fill(null, 0, this.length);
    this.length = 0;
    this.bytesQueued = 0;
  }
}

/** What the reassembler calls: queues each call for `consumer`. */
class Deferred implements StreamConsumer {
  readonly looksAhead: LooksAhead | null;
  constructor(
    readonly consumer: StreamConsumer,
    readonly queue: CallQueue,
  ) {
    this.looksAhead = 'lookAhead' in consumer && 'openAhead' in consumer ? (consumer as StreamConsumer & LooksAhead) : null;
  }

  onData(direction: Direction, bytes: Uint8Array, timeNs: bigint): void {
    this.queue.push(this, DATA, direction, bytes, 0, null, timeNs);
  }
  onGap(direction: Direction, missingBytes: number, timeNs: bigint): void {
    this.queue.push(this, GAP, direction, null, missingBytes, null, timeNs);
  }
  onEnd(end: ConnectionEnd, endNs: bigint): void {
    this.queue.push(this, END, 'toServer', null, 0, end, endNs);
  }
}

export class PacketPipeline {
  readonly #fragments = new IpFragments();
  readonly #sessions = new Tls12SessionCache();
  readonly #reassembler: TcpReassembler;
  readonly #queue = new CallQueue();
  #flushing = false;

  /** `onConnection` makes the consumer of each new connection (`sessions`: for its tlsConnectionFor). */
  constructor(onConnection: (info: ConnectionInfo, sessions: Tls12SessionCache) => StreamConsumer) {
    this.#reassembler = new TcpReassembler(
      { onConnection: (info) => new Deferred(onConnection(info, this.#sessions), this.#queue) },
      { senderHeuristics: [tlsHelloSender] },
    );
  }

  /**
   * One captured frame, in capture order (kept as it is until the next flush); the consumer of its connection,
   * if any. What it delivers reaches the consumer at the next flush.
   */
  push(linkType: number, frame: Uint8Array, timeNs: bigint): StreamConsumer | undefined {
    const segment = decodePacket(linkType, frame, this.#fragments);
    const deferred = segment ? (this.#reassembler.push(segment, timeNs) as Deferred | undefined) : undefined;
    if (this.#queue.length >= MAX_QUEUED || this.#queue.bytesQueued >= MAX_QUEUED_BYTES) this.flush();
    return deferred?.consumer;
  }

  /** Hands everything queued to the consumers, in order. */
  flush(): void {
    const q = this.#queue;
    if (q.length === 0 || this.#flushing) return;
    this.#flushing = true;
    try {
      const looking = new Set<LooksAhead>();
      for (let i = 0; i < q.length; i++) {
        const ahead = q.to[i]!.looksAhead;
        if (ahead && q.kind[i] === DATA) {
          ahead.lookAhead(q.direction[i]!, q.bytes[i]!);
          looking.add(ahead);
        }
      }
      for (const ahead of looking) ahead.openAhead();
      for (let i = 0; i < q.length; i++) {
        const consumer = q.to[i]!.consumer;
        const kind = q.kind[i];
        if (kind === DATA) consumer.onData(q.direction[i]!, q.bytes[i]!, q.timeNs[i]!);
        else if (kind === GAP) consumer.onGap(q.direction[i]!, q.count[i]!, q.timeNs[i]!);
        else consumer.onEnd(q.end[i]!, q.timeNs[i]!);
      }
    } finally {
      q.clear();
      this.#flushing = false;
    }
  }

  /** End of the captures: every open connection ends. */
  finish(): void {
    this.#reassembler.finish();
    this.flush();
  }
}

/** The TLS of one connection, decrypted as analyze decrypts it. */
export function tlsConnectionFor(info: ConnectionInfo, keys: KeySource, sessions: Tls12SessionCache, sink: TlsSink): TlsConnection {
  return new TlsConnection(keys, sink, { joinedMidStream: !info.synSeen, sessions });
}
