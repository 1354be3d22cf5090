import { connectionKey } from './flow.js';
import { RoleClassifier, type RolesFrom, type SenderHeuristic } from './roles.js';
import { TcpFlag, type Endpoint, type TcpSegment } from './segment.js';

/** Which way bytes travel. */
export type Direction = 'toServer' | 'toClient';

export interface ConnectionInfo {
  /** 1, 2, 3… in order of first appearance in the capture. */
  id: number;
  client: Endpoint;
  server: Endpoint;
  /** Time of the first segment seen (ns since the epoch). */
  startNs: bigint;
  /** False when the capture joined an established connection (no SYN seen). */
  synSeen: boolean;
  /**
   * How the client/server roles were decided: 'syn'; for a connection joined in the middle, the name of
   * the registered heuristic that recognised its first payload ('tls'), 'known server' (an endpoint seen
   * accepting other connections), else 'port'.
   */
  rolesFrom: RolesFrom;
}

/**
 * Why a connection ended: FIN both ways, RST, refused (the server answered the SYN with a RST: no SYN-ACK,
 * no data), pushed out by limits, or the end of the capture.
 */
export type ConnectionEnd = 'fin' | 'rst' | 'refused' | 'evicted' | 'capture end';

/**
 * Receives one connection's bytes in order. `bytes` is only valid during the call (it may view a reused
 * capture buffer): copy what you keep.
 */
export interface StreamConsumer {
  onData(direction: Direction, bytes: Uint8Array, timeNs: bigint): void;
  /** `missingBytes` were lost (or cut by the snap length) before the next `onData` of this direction. */
  onGap(direction: Direction, missingBytes: number, timeNs: bigint): void;
  onEnd(end: ConnectionEnd, endNs: bigint): void;
}

export interface ConnectionListener {
  onConnection(info: ConnectionInfo): StreamConsumer;
}

export interface ReassemblerOptions {
  /** Out-of-order bytes held per direction before the hole is declared lost. Default 4 MiB. */
  maxBufferedBytes?: number;
  /** Out-of-order bytes held over all connections together. Default 256 MiB. */
  maxTotalBufferedBytes?: number;
  /** A connection silent for this long (capture time) is ended as evicted. Default 1 hour. */
  idleTimeoutNs?: bigint;
  /** Open connections kept at most; beyond it the least recently active is evicted. Default 200 000. */
  maxConnections?: number;
  /** Upper layers' guesses of the client from the first payload of a connection joined in the middle, in order. */
  senderHeuristics?: readonly SenderHeuristic[];
}

/** How stale the activity order of connections may get, for idle eviction. */
const LRU_RESOLUTION_NS = 1_000_000_000n;

/** Segments to wait for bytes the peer already acknowledged (capture reordering) before calling them lost. */
const REORDER_WINDOW = 16;

interface PendingSegment {
  offset: number;
  bytes: Uint8Array;
  length: number; // declared length: may exceed bytes.length when the snap length cut the frame
  timeNs: bigint;
}

/** Out-of-order bytes held by all flows, against a limit shared by the whole capture. */
interface BufferBudget {
  used: number;
  readonly max: number;
}

/** One direction of a connection: sequence space, what was delivered, what waits for a hole to fill. */
class HalfStream {
  /** Sequence number of stream offset 0; null until the first segment of this direction. */
  base: number | null = null;
  /** Next stream offset to deliver. */
  next = 0;
  pending: PendingSegment[] = [];
  pendingBytes = 0;
  /** Stream offset of the FIN, or -1. */
  finOffset = -1;
  /** Highest stream offset the peer acknowledged, or -1. */
  ackedOffset = -1;
  /** Segments with payload received so far. */
  #received = 0;
  /** `received` when the peer acknowledged bytes we have not seen, or -1. */
  #holeAckedAt = -1;
  readonly #consumer: StreamConsumer;
  readonly #maxBufferedBytes: number;
  readonly #budget: BufferBudget;

  constructor(
    readonly direction: Direction,
    consumer: StreamConsumer,
    maxBufferedBytes: number,
    budget: BufferBudget,
  ) {
    this.#consumer = consumer;
    this.#maxBufferedBytes = maxBufferedBytes;
    this.#budget = budget;
  }

  /** Maps a 32-bit sequence number to a stream offset near `next` (handles wraparound). */
  offsetOf(seq: number): number {
    const expected = ((this.base as number) + this.next) >>> 0;
    return this.next + ((seq - expected) | 0);
  }

  start(seq: number): void {
    this.base = seq >>> 0;
  }

  /** No payload received in this direction (a SYN alone carries none). */
  isEmpty(): boolean {
    return this.#received === 0;
  }

  receive(offset: number, bytes: Uint8Array, length: number, timeNs: bigint): void {
    this.#received++;
    const end = offset + length;
    if (end <= this.next) return; // retransmission of delivered bytes
    if (offset < this.next) {
      const skip = this.next - offset;
      bytes = bytes.subarray(Math.min(skip, bytes.length));
      length -= skip;
      offset = this.next;
    }
    if (offset === this.next) {
      this.#deliver(bytes, length, timeNs);
      this.#drain();
      return;
    }
    this.#buffer({ offset, bytes: Uint8Array.prototype.slice.call(bytes), length, timeNs });
    const holeLost = this.#holeAckedAt >= 0 && this.#received - this.#holeAckedAt > REORDER_WINDOW;
    if (holeLost || this.pendingBytes > this.#maxBufferedBytes || this.#budget.used > this.#budget.max) this.#skipToPending();
  }

  /**
   * The peer acknowledged up to `offset`. Bytes it has but we lack were either captured out of order (they
   * come soon) or lost by the capture: after REORDER_WINDOW more segments the hole is declared lost.
   */
  acknowledged(offset: number): void {
    if (offset > this.ackedOffset) this.ackedOffset = offset;
    if (offset > this.next && this.#holeAckedAt < 0) this.#holeAckedAt = this.#received;
  }

  /** Delivers everything left, reporting every hole, including lost bytes at the end. */
  close(timeNs: bigint): void {
    while (this.pending.length > 0) this.#skipToPending();
    // The FIN takes one sequence number: an ACK of it is one past the last byte.
    const knownEnd = this.finOffset >= 0 ? this.finOffset : this.ackedOffset;
    if (this.base !== null && knownEnd > this.next) {
      this.#consumer.onGap(this.direction, knownEnd - this.next, timeNs);
      this.next = knownEnd;
    }
  }

  #deliver(bytes: Uint8Array, length: number, timeNs: bigint): void {
    if (bytes.length > 0) this.#consumer.onData(this.direction, bytes, timeNs);
    if (length > bytes.length) this.#consumer.onGap(this.direction, length - bytes.length, timeNs);
    this.next += length;
    if (this.#holeAckedAt >= 0 && this.next >= this.ackedOffset) this.#holeAckedAt = -1;
  }

  #drain(): void {
    while (this.pending.length > 0 && this.pending[0]!.offset <= this.next) {
      const segment = this.pending.shift()!;
      this.pendingBytes -= segment.bytes.length;
      this.#budget.used -= segment.bytes.length;
      const end = segment.offset + segment.length;
      if (end <= this.next) continue;
      const skip = this.next - segment.offset;
      this.#deliver(segment.bytes.subarray(Math.min(skip, segment.bytes.length)), segment.length - skip, segment.timeNs);
    }
  }

  #skipToPending(): void {
    const first = this.pending[0];
    if (!first) return;
    if (first.offset > this.next) {
      this.#consumer.onGap(this.direction, first.offset - this.next, first.timeNs);
      this.next = first.offset;
    }
    this.#drain();
  }

  #buffer(segment: PendingSegment): void {
    // Usually appended at the end: find the place from the back.
    let i = this.pending.length;
    while (i > 0 && this.pending[i - 1]!.offset > segment.offset) i--;
    this.pending.splice(i, 0, segment);
    this.pendingBytes += segment.bytes.length;
    this.#budget.used += segment.bytes.length;
  }
}

/** Done when all bytes up to the FIN arrived, or the peer acknowledged the FIN (so nothing will be resent). */
function finished(flow: HalfStream): boolean {
  return flow.finOffset >= 0 && ((flow.next >= flow.finOffset && flow.pending.length === 0) || flow.ackedOffset > flow.finOffset);
}

class Connection {
  readonly toServer: HalfStream;
  readonly toClient: HalfStream;
  lastNs: bigint;
  /** When to move to the end of the activity order next: a second after the last move (compared, not computed, per packet). */
  reorderAfterNs: bigint;

  constructor(
    readonly info: ConnectionInfo,
    readonly consumer: StreamConsumer,
    maxBufferedBytes: number,
    budget: BufferBudget,
  ) {
    this.toServer = new HalfStream('toServer', consumer, maxBufferedBytes, budget);
    this.toClient = new HalfStream('toClient', consumer, maxBufferedBytes, budget);
    this.lastNs = info.startNs;
    this.reorderAfterNs = info.startNs + LRU_RESOLUTION_NS;
  }

  isFromClient(segment: TcpSegment): boolean {
    return segment.src.port === this.info.client.port && segment.src.ip === this.info.client.ip;
  }

  end(reason: ConnectionEnd, timeNs: bigint): void {
    this.toServer.close(timeNs);
    this.toClient.close(timeNs);
    this.consumer.onEnd(reason, timeNs);
  }
}

/** TCP reassembly over a whole capture; see index.ts for the contract. */
export class TcpReassembler {
  readonly #connections = new Map<string, Connection>();
  #nextId = 1;
  #pushes = 0;
  readonly #maxBufferedBytes: number;
  readonly #idleTimeoutNs: bigint;
  readonly #maxConnections: number;
  readonly #budget: BufferBudget;
  readonly #roles: RoleClassifier;
  readonly #listener: ConnectionListener;

  constructor(
    listener: ConnectionListener,
    options: ReassemblerOptions = {},
  ) {
    this.#listener = listener;
    this.#maxBufferedBytes = options.maxBufferedBytes ?? 4 << 20;
    this.#idleTimeoutNs = options.idleTimeoutNs ?? 3_600_000_000_000n;
    this.#maxConnections = options.maxConnections ?? 200_000;
    this.#budget = { used: 0, max: options.maxTotalBufferedBytes ?? 256 << 20 };
    this.#roles = new RoleClassifier(options.senderHeuristics);
  }

  /** Feeds one segment; returns the consumer of its connection (undefined when the segment starts nothing). */
  push(segment: TcpSegment, timeNs: bigint): StreamConsumer | undefined {
    const key = connectionKey(segment.src, segment.dst);
    let connection = this.#connections.get(key);
    const flags = segment.flags;
    const syn = (flags & TcpFlag.SYN) !== 0;
    const ack = (flags & TcpFlag.ACK) !== 0;
    if (connection && syn && !ack && this.#isNewConnection(connection, segment)) {
      this.#end(key, connection, 'evicted', timeNs);
      connection = undefined;
    }
    if (!connection) {
      // Segments without SYN or payload (late ACKs, FINs after close) start nothing.
      if (!syn && segment.payloadLength === 0) return undefined;
      if (flags & TcpFlag.RST) return undefined;
      connection = this.#open(key, segment, timeNs);
    } else if (timeNs > connection.reorderAfterNs) {
      // Re-insert so the Map stays sorted by last activity (to the second: cheap enough per packet).
      this.#connections.delete(key);
      this.#connections.set(key, connection);
      connection.reorderAfterNs = timeNs + LRU_RESOLUTION_NS;
    }
    connection.lastNs = timeNs;
    const fromClient = connection.isFromClient(segment);
    const flow = fromClient ? connection.toServer : connection.toClient;
    const peer = fromClient ? connection.toClient : connection.toServer;

    const refused = (flags & TcpFlag.RST) !== 0 && !fromClient && flow.base === null && connection.info.synSeen && peer.isEmpty();
    if (flow.base === null) flow.start(syn ? segment.seq + 1 : segment.seq);
    let offset = flow.offsetOf(syn ? segment.seq + 1 : segment.seq);
    if (segment.payloadLength > 0) flow.receive(offset, segment.payload, segment.payloadLength, timeNs);
    offset += segment.payloadLength;
    if (flags & TcpFlag.FIN && flow.finOffset < 0) flow.finOffset = offset;
    if (ack && peer.base !== null) peer.acknowledged(peer.offsetOf(segment.ack));

    if (flags & TcpFlag.RST) {
      this.#end(key, connection, refused ? 'refused' : 'rst', timeNs);
    } else if (this.#bothFinished(connection)) {
      this.#end(key, connection, 'fin', timeNs);
    }
    if ((++this.#pushes & 0xfff) === 0 || this.#connections.size > this.#maxConnections) this.#evictIdle(timeNs);
    return connection.consumer;
  }

  /** End of capture: every open connection ends now. */
  finish(endNs?: bigint): void {
    for (const [key, connection] of this.#connections) {
      this.#end(key, connection, 'capture end', endNs ?? connection.lastNs);
    }
  }

  #open(key: string, segment: TcpSegment, timeNs: bigint): Connection {
    const { flow, rolesFrom } = this.#roles.classify(segment);
    const info: ConnectionInfo = {
      id: this.#nextId++,
      client: flow.src,
      server: flow.dst,
      startNs: timeNs,
      synSeen: (segment.flags & TcpFlag.SYN) !== 0,
      rolesFrom,
    };
    const connection = new Connection(info, this.#listener.onConnection(info), this.#maxBufferedBytes, this.#budget);
    this.#connections.set(key, connection);
    return connection;
  }

  /** A SYN on a known 4-tuple that does not repeat the first SYN: the port was reused. */
  #isNewConnection(connection: Connection, segment: TcpSegment): boolean {
    const flow = connection.isFromClient(segment) ? connection.toServer : connection.toClient;
    return flow.base === null || flow.base !== ((segment.seq + 1) >>> 0) || !connection.info.synSeen;
  }

  #bothFinished(connection: Connection): boolean {
    return finished(connection.toServer) && finished(connection.toClient);
  }

  #end(key: string, connection: Connection, reason: ConnectionEnd, timeNs: bigint): void {
    this.#connections.delete(key);
    connection.end(reason, timeNs);
  }

  #evictIdle(nowNs: bigint): void {
    // The Map is ordered by last activity (to the second): stop at the first connection still alive.
    for (const [key, connection] of this.#connections) {
      const idle = nowNs - connection.lastNs > this.#idleTimeoutNs;
      if (!idle && this.#connections.size <= this.#maxConnections) break;
      this.#end(key, connection, 'evicted', nowNs);
    }
  }
}
