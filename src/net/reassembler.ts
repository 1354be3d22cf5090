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
    /** Its connectionKey: made once, so that reordering the activity Map hashes no new string per packet. */
    readonly key: string,
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

  /** Whether the segment travels on this connection, either way (what equal connectionKeys say). */
  carries(segment: TcpSegment): boolean {
    const { client, server } = this.info;
    const { src, dst } = segment;
    return (src.port === client.port && dst.port === server.port && src.ip === client.ip && dst.ip === server.ip)
      || (src.port === server.port && dst.port === client.port && src.ip === server.ip && dst.ip === client.ip);
  }

  end(reason: ConnectionEnd, timeNs: bigint): void {
    this.toServer.close(timeNs);
    this.toClient.close(timeNs);
    this.consumer.onEnd(reason, timeNs);
  }
}

/** The two ports of a connection as one number, the same whichever end sent. */
function portsKey(a: number, b: number): number {
  return a < b ? a * 65536 + b : b * 65536 + a;
}

/** TCP reassembly over a whole capture; see index.ts for the contract. */
export class TcpReassembler {
  /** By connectionKey, in order of last activity (to the second). */
  readonly #connections = new Map<string, Connection>();
  /**
   * The same connections by their two ports (either order), to find a packet's connection without building
   * and hashing its key string, which was the largest cost of a packet here. Ports shared by several open
   * connections (other hosts) map to those by key, so that a lookup never walks a list.
   */
  readonly #byPorts = new Map<number, Connection | Map<string, Connection>>();
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
    let connection = this.#find(segment);
    const flags = segment.flags;
    const syn = (flags & TcpFlag.SYN) !== 0;
    const ack = (flags & TcpFlag.ACK) !== 0;
    if (connection && syn && !ack && this.#isNewConnection(connection, segment)) {
      this.#end(connection, 'evicted', timeNs);
      connection = undefined;
    }
    if (!connection) {
      // Segments without SYN or payload (late ACKs, FINs after close) start nothing.
      if (!syn && segment.payloadLength === 0) return undefined;
      if (flags & TcpFlag.RST) return undefined;
      connection = this.#open(segment, timeNs);
    } else if (timeNs > connection.reorderAfterNs) {
      // Re-insert so the Map stays sorted by last activity (to the second: cheap enough per packet).
      this.#connections.delete(connection.key);
      this.#connections.set(connection.key, connection);
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
      this.#end(connection, refused ? 'refused' : 'rst', timeNs);
    } else if (this.#bothFinished(connection)) {
      this.#end(connection, 'fin', timeNs);
    }
    if ((++this.#pushes & 0xfff) === 0 || this.#connections.size > this.#maxConnections) this.#evictIdle(timeNs);
    return connection.consumer;
  }

  /** End of capture: every open connection ends now. */
  finish(endNs?: bigint): void {
    for (const connection of this.#connections.values()) {
      this.#end(connection, 'capture end', endNs ?? connection.lastNs);
    }
  }

  #find(segment: TcpSegment): Connection | undefined {
    const found = this.#byPorts.get(portsKey(segment.src.port, segment.dst.port));
    if (found instanceof Connection) return found.carries(segment) ? found : undefined;
    return found?.get(connectionKey(segment.src, segment.dst));
  }

  #open(segment: TcpSegment, timeNs: bigint): Connection {
    const { flow, rolesFrom } = this.#roles.classify(segment);
    const info: ConnectionInfo = {
      id: this.#nextId++,
      client: flow.src,
      server: flow.dst,
      startNs: timeNs,
      synSeen: (segment.flags & TcpFlag.SYN) !== 0,
      rolesFrom,
    };
    const key = connectionKey(segment.src, segment.dst);
    const connection = new Connection(info, key, this.#listener.onConnection(info), this.#maxBufferedBytes, this.#budget);
    this.#connections.set(key, connection);
    const ports = portsKey(segment.src.port, segment.dst.port);
    const sharing = this.#byPorts.get(ports);
    if (sharing === undefined) this.#byPorts.set(ports, connection);
    else if (sharing instanceof Connection) this.#byPorts.set(ports, new Map([[sharing.key, sharing], [key, connection]]));
    else sharing.set(key, connection);
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

  #end(connection: Connection, reason: ConnectionEnd, timeNs: bigint): void {
    this.#connections.delete(connection.key);
    const ports = portsKey(connection.info.client.port, connection.info.server.port);
    const sharing = this.#byPorts.get(ports);
    if (sharing === connection) this.#byPorts.delete(ports);
    else if (sharing instanceof Map && sharing.delete(connection.key) && sharing.size === 0) this.#byPorts.delete(ports);
    connection.end(reason, timeNs);
  }

  #evictIdle(nowNs: bigint): void {
    // The Map is ordered by last activity (to the second): stop at the first connection still alive.
    for (const connection of this.#connections.values()) {
      const idle = nowNs - connection.lastNs > this.#idleTimeoutNs;
      if (!idle && this.#connections.size <= this.#maxConnections) break;
      this.#end(connection, 'evicted', nowNs);
    }
  }
}
