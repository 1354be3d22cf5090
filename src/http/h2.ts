/**
 * HTTP/2 connection decoder: both directions' frames → request/response exchanges per stream.
 * A protocol error (bad frame, HPACK failure) stops decoding that connection — the HPACK state is
 * lost from then on — but never throws out of `client`/`server`: it is recorded in `error`.
 *
 * Joined mid-stream (`joinedMidStream`): no preface; each direction is resynchronised to its first whole
 * frame (resync.ts); HPACK starts with an unknown dynamic table, and fields that refer to it are counted
 * in `unrecoverableHeaderFields` instead of decoded; a CONTINUATION whose HEADERS came before the join is
 * skipped (and what it inserted makes the table unknown again); responses on streams opened before the
 * join are reported with `openedBeforeJoin`.
 */
import {
  CLIENT_PREFACE, errorCodeName, Flag, FrameReader, FrameType, Http2Error, parseGoaway, parseHeadersPayload,
  parsePriorityPayload, parsePushPromise, parseRstStream, parseSettings, parseWindowUpdate, parsePing, SettingId,
  type FrameHeader, type FrameSink,
} from './frames.js';
import { HeaderListTooLarge, HpackDecoder, HpackError, MAX_HEADER_LIST_BYTES } from './hpack.js';
import { findFrameBoundary } from './resync.js';

/** Bytes held while a direction joined mid-stream waits for its first frame boundary (frames may be 1 MiB). */
const MAX_JOIN_QUEUE_BYTES = 4 << 20;
/**
 * The most a header block (HEADERS or PUSH_PROMISE and its CONTINUATION frames) may take before it is decoded:
 * one HEADERS and 26k CONTINUATION frames once made 424 MB of fragments. As large as the decoded list may be.
 */
const MAX_HEADER_BLOCK_BYTES = MAX_HEADER_LIST_BYTES;
import {
  applyRequestHeaders, applyResponseHeaders, applyTrailers, BodyBudget, BodyCollector, createBodyCollector, MAX_KEPT_BODY_BYTES, headerValue, newExchange,
  type HttpConnectionDecoder, type HttpDecoderOptions, type HttpExchange,
} from './exchange.js';

type Side = 'client' | 'server';

interface StreamState {
  exchange: HttpExchange;
  clientEnded: boolean;
  serverEnded: boolean;
  /** Whether the request / final response header block has been seen (later blocks are trailers). */
  requestHeadersSeen: boolean;
  responseHeadersSeen: boolean;
  requestBody?: BodyCollector;
  responseBody?: BodyCollector;
}

/** A header block being assembled from HEADERS/PUSH_PROMISE + CONTINUATION frames. */
interface PendingBlock {
  streamId: number;
  /** For PUSH_PROMISE: the stream the promised request belongs to. */
  promisedStreamId?: number;
  endStream: boolean;
  fragments: Uint8Array[];
  /** Bytes in `fragments`, bounded by MAX_HEADER_BLOCK_BYTES. */
  size: number;
  time: number;
}

class Direction implements FrameSink {
  readonly reader: FrameReader;
  /** Decodes header blocks this side sends. */
  readonly hpack = new HpackDecoder();
  pending: PendingBlock | null = null;
  time = 0;
  /** Joined mid-stream: false until this direction's first whole frame is found. */
  synced = true;
  /** Joined mid-stream, not yet synced: this direction's queued bytes. */
  queuedBytes = 0;
  /** Joined mid-stream: a HEADERS or PUSH_PROMISE was seen since the join (a CONTINUATION before it is a leftover). */
  blockStarted = false;
  readonly #conn: Http2Decoder;
  constructor(
    readonly side: Side,
    conn: Http2Decoder,
    joinedMidStream: boolean,
  ) {
    this.#conn = conn;
    this.reader = new FrameReader(this);
    if (joinedMidStream) {
      this.synced = false;
      this.hpack.joinMidStream();
    }
  }
  frame(header: FrameHeader, payload: Uint8Array): void {
    this.#conn.onFrame(this, header, payload);
  }
  data(header: FrameHeader, piece: Uint8Array, last: boolean): void {
    this.#conn.onData(this, header, piece, last);
  }
}

export class Http2Decoder implements HttpConnectionDecoder {
  readonly protocol = 'h2' as const;
  error: string | undefined;
  unrecoverableHeaderFields = 0;
  readonly #streams = new Map<number, StreamState>();
  readonly #clientSide: Direction;
  readonly #serverSide: Direction;
  #prefaceSeen = 0;
  /** Joined mid-stream: chunks of both directions, in capture order, until their directions are in sync. */
  #joinQueue: Array<{ dir: Direction; chunk: Buffer; time: number }> = [];
  #joinQueueBytes = 0;
  readonly #bodyBudget: BodyBudget;
  readonly #options: HttpDecoderOptions;

  constructor(options: HttpDecoderOptions) {
    this.#options = options;
    this.#bodyBudget = options.bodyBudget ?? new BodyBudget();
    const joined = options.joinedMidStream === true;
    this.#clientSide = new Direction('client', this, joined);
    this.#serverSide = new Direction('server', this, joined);
    if (joined) this.#prefaceSeen = CLIENT_PREFACE.length;
  }

  client(chunk: Uint8Array, time: number): void {
    if (this.error) return;
    let off = 0;
    if (this.#prefaceSeen < CLIENT_PREFACE.length) {
      const take = Math.min(CLIENT_PREFACE.length - this.#prefaceSeen, chunk.length);
      for (let i = 0; i < take; i++) {
        if (chunk[i] !== CLIENT_PREFACE[this.#prefaceSeen + i]) {
          this.error = 'the client did not send the HTTP/2 connection preface';
          return;
        }
      }
      this.#prefaceSeen += take;
      off = take;
    }
    this.#feed(this.#clientSide, chunk.subarray(off), time);
  }

  server(chunk: Uint8Array, time: number): void {
    if (this.error) return;
    this.#feed(this.#serverSide, chunk, time);
  }

  end(): void {
    this.#release(true);
    for (const [id, stream] of [...this.#streams].sort((a, b) => a[0] - b[0])) {
      stream.exchange.reset ??= 'connection ended';
      this.#finish(id, stream);
    }
  }

  #feed(dir: Direction, chunk: Uint8Array, time: number): void {
    if (chunk.length === 0) return;
    if (!dir.synced || this.#joinQueue.length > 0) return this.#enqueue(dir, chunk, time);
    this.#feedSynced(dir, chunk, time);
  }

  #feedSynced(dir: Direction, chunk: Uint8Array, time: number): void {
    dir.time = time;
    try {
      dir.reader.push(chunk);
    } catch (err) {
      if (!(err instanceof Http2Error || err instanceof HpackError)) throw err;
      this.error = `HTTP/2 ${dir.side} stream: ${err.message}`;
    }
  }

  /**
   * Joined mid-stream, a direction's first frame boundary is known only after a few frames: until then its
   * bytes wait, and so do the other direction's that came after them, so that frames are decoded in the
   * order they were captured (a request's HEADERS before its response).
   */
  #enqueue(dir: Direction, chunk: Uint8Array, time: number): void {
    this.#joinQueue.push({ dir, chunk: Buffer.from(chunk), time });
    this.#joinQueueBytes += chunk.length;
    if (!dir.synced) dir.queuedBytes += chunk.length;
    this.#release(this.#joinQueueBytes > MAX_JOIN_QUEUE_BYTES);
  }

  /** Syncs what can be synced, then feeds queued chunks in order up to the first of a direction still unsynced. */
  #release(final: boolean): void {
    for (const dir of [this.#clientSide, this.#serverSide]) {
      if (dir.synced || dir.queuedBytes === 0 || this.error) continue;
      const bytes = Buffer.concat(this.#joinQueue.filter((q) => q.dir === dir).map((q) => q.chunk));
      const found = findFrameBoundary(bytes, final);
      if (found.kind === 'more') continue;
      if (found.kind === 'none') {
        // At the end, bytes without a whole frame are just the tail of one; earlier they are not HTTP/2.
        if (final && bytes.length < MAX_JOIN_QUEUE_BYTES) {
          this.#joinQueue = this.#joinQueue.filter((q) => q.dir !== dir);
          this.#joinQueueBytes -= bytes.length;
          dir.queuedBytes = 0;
          dir.synced = true;
          continue;
        }
        this.error = `HTTP/2 ${dir.side} stream: no frame boundary found after joining mid-stream`;
        return;
      }
      // Drop the bytes before the boundary from this direction's first queued chunks.
      let skip = found.offset;
      for (const q of this.#joinQueue) {
        if (q.dir !== dir || skip === 0) continue;
        const n = Math.min(skip, q.chunk.length);
        q.chunk = q.chunk.subarray(n);
        skip -= n;
      }
      dir.synced = true;
      dir.queuedBytes = 0;
    }
    while (this.#joinQueue.length > 0 && this.#joinQueue[0]!.dir.synced && !this.error) {
      const q = this.#joinQueue.shift()!;
      this.#joinQueueBytes -= q.chunk.length;
      if (q.chunk.length > 0) this.#feedSynced(q.dir, q.chunk, q.time);
    }
  }

  onFrame(dir: Direction, header: FrameHeader, payload: Uint8Array): void {
    if (header.type === FrameType.CONTINUATION && !dir.pending && this.#options.joinedMidStream && !dir.blockStarted) {
      // The rest of a header block that began before the join: undecodable, and what it inserted into the
      // dynamic table is unknown, so everything inserted so far is.
      dir.hpack.joinMidStream();
      return;
    }
    if (header.type === FrameType.HEADERS || header.type === FrameType.PUSH_PROMISE) dir.blockStarted = true;
    if (dir.pending && header.type !== FrameType.CONTINUATION) {
      throw new Http2Error('header block interrupted by another frame');
    }
    switch (header.type) {
      case FrameType.HEADERS: {
        if (header.streamId === 0) throw new Http2Error('HEADERS on stream 0');
        const { fragment } = parseHeadersPayload(payload, header.flags);
        this.#startBlock(dir, { streamId: header.streamId, endStream: (header.flags & Flag.END_STREAM) !== 0, fragments: [fragment], size: fragment.length, time: dir.time }, header.flags);
        break;
      }
      case FrameType.PUSH_PROMISE: {
        const { promisedStreamId, fragment } = parsePushPromise(payload, header.flags);
        this.#startBlock(dir, { streamId: header.streamId, promisedStreamId, endStream: false, fragments: [fragment], size: fragment.length, time: dir.time }, header.flags);
        break;
      }
      case FrameType.CONTINUATION: {
        const pending = dir.pending;
        if (!pending || pending.streamId !== header.streamId) throw new Http2Error('CONTINUATION without a header block in progress');
        pending.fragments.push(payload);
        pending.size += payload.length;
        if (pending.size > MAX_HEADER_BLOCK_BYTES) {
          dir.pending = null;
          this.#oversized(pending, `header block of stream ${pending.streamId} over ${MAX_HEADER_BLOCK_BYTES >> 20} MiB (HEADERS and ${pending.fragments.length - 1} CONTINUATION frames)`);
        }
        if (header.flags & Flag.END_HEADERS) {
          dir.pending = null;
          this.#headerBlock(dir, pending);
        }
        break;
      }
      case FrameType.SETTINGS: {
        if (header.streamId !== 0) throw new Http2Error('SETTINGS on a stream');
        for (const [id, value] of parseSettings(payload, header.flags)) {
          if (id === SettingId.HEADER_TABLE_SIZE) {
            // The sender bounds the table of the header blocks it receives: the other side's encoder.
            const peer = dir === this.#clientSide ? this.#serverSide : this.#clientSide;
            peer.hpack.maxAllowedTableSize = Math.max(peer.hpack.maxAllowedTableSize, value);
          }
        }
        break;
      }
      case FrameType.RST_STREAM: {
        const code = parseRstStream(payload);
        const stream = this.#streams.get(header.streamId);
        if (stream) {
          stream.exchange.reset = errorCodeName(code);
          this.#touch(stream, dir.time);
          this.#finish(header.streamId, stream);
        }
        break;
      }
      case FrameType.PRIORITY: parsePriorityPayload(payload); break;
      case FrameType.PING: parsePing(payload); break;
      case FrameType.GOAWAY: parseGoaway(payload); break;
      case FrameType.WINDOW_UPDATE: parseWindowUpdate(payload); break;
      default: break; // Unknown frame types are ignored (RFC 9113 §4.1).
    }
  }

  onData(dir: Direction, header: FrameHeader, piece: Uint8Array, last: boolean): void {
    if (dir.pending) throw new Http2Error('header block interrupted by a DATA frame');
    if (header.streamId === 0) throw new Http2Error('DATA on stream 0');
    const stream = this.#streams.get(header.streamId);
    if (!stream) return; // A stream already reset or never opened in what we saw.
    const ex = stream.exchange;
    if (dir.side === 'client') {
      ex.requestBodyBytes += piece.length;
      if (piece.length) stream.requestBody?.add(piece);
    } else {
      ex.responseBodyBytes += piece.length;
      if (piece.length) stream.responseBody?.add(piece);
    }
    this.#touch(stream, dir.time);
    if (last && header.flags & Flag.END_STREAM) this.#endSide(header.streamId, stream, dir.side);
  }

  #startBlock(dir: Direction, block: PendingBlock, flags: number): void {
    if (flags & Flag.END_HEADERS) this.#headerBlock(dir, block);
    else dir.pending = block;
  }

  /**
   * A header block past the bounds: its stream is marked (reset: what it was) and the connection's decoding
   * stops there, as for any HPACK failure (the dynamic table is unknown from then on).
   */
  #oversized(block: PendingBlock, why: string): never {
    const stream = this.#streams.get(block.promisedStreamId ?? block.streamId) ?? this.#open(block.promisedStreamId ?? block.streamId, block.time);
    stream.exchange.reset = `${why}, not decoded`;
    throw new Http2Error(why);
  }

  #headerBlock(dir: Direction, block: PendingBlock): void {
    const bytes = block.fragments.length === 1 ? block.fragments[0]! : Buffer.concat(block.fragments);
    block.fragments = [];
    // Decode even for streams we ignore: the dynamic table must see every block.
    let decoded;
    try {
      decoded = dir.hpack.decodeBlock(bytes);
    } catch (err) {
      if (err instanceof HeaderListTooLarge) this.#oversized(block, `${err.message} on stream ${block.streamId}`);
      throw err;
    }
    const { fields, unknown } = decoded;
    this.unrecoverableHeaderFields += unknown;
    const countUnknown = (stream: StreamState): void => {
      if (unknown > 0) stream.exchange.unrecoverableHeaderFields = (stream.exchange.unrecoverableHeaderFields ?? 0) + unknown;
    };
    if (block.promisedStreamId !== undefined) {
      const stream = this.#open(block.promisedStreamId, block.time);
      countUnknown(stream);
      applyRequestHeaders(stream.exchange, fields);
      stream.requestHeadersSeen = true;
      stream.clientEnded = true;
      return;
    }
    if (dir.side === 'client') {
      const stream = this.#streams.get(block.streamId) ?? this.#open(block.streamId, block.time);
      countUnknown(stream);
      if (stream.requestHeadersSeen) applyTrailers(stream.exchange, fields);
      else {
        applyRequestHeaders(stream.exchange, fields);
        stream.requestHeadersSeen = true;
        stream.requestBody ??= createBodyCollector(stream.exchange.method);
      }
      this.#touch(stream, block.time);
      if (block.endStream) this.#endSide(block.streamId, stream, 'client');
      return;
    }
    let stream = this.#streams.get(block.streamId);
    if (!stream && this.#options.joinedMidStream) {
      // A response (or trailers: gRPC status) on a stream whose request came before the join.
      stream = this.#open(block.streamId, block.time);
      stream.exchange.openedBeforeJoin = true;
      stream.requestHeadersSeen = true;
      stream.clientEnded = true;
    }
    if (!stream) return;
    countUnknown(stream);
    this.#touch(stream, block.time);
    const status = fields.find((f) => f[0] === ':status')?.[1];
    // On a stream opened before the join, a block without :status is the trailers of a response not seen.
    if (stream.responseHeadersSeen || (stream.exchange.openedBeforeJoin && status === undefined)) applyTrailers(stream.exchange, fields);
    else if (status === undefined || !status.startsWith('1')) {
      // 1xx responses are informational; the final response follows in another block.
      applyResponseHeaders(stream.exchange, fields);
      stream.responseHeadersSeen = true;
    }
    if (block.endStream) this.#endSide(block.streamId, stream, 'server');
  }

  #open(streamId: number, time: number): StreamState {
    const stream: StreamState = {
      exchange: newExchange('h2', streamId, time),
      clientEnded: false,
      serverEnded: false,
      requestHeadersSeen: false,
      responseHeadersSeen: false,
    };
    if (this.#options.bodies) {
      stream.requestBody = new BodyCollector(MAX_KEPT_BODY_BYTES, this.#bodyBudget);
      stream.responseBody = new BodyCollector(MAX_KEPT_BODY_BYTES, this.#bodyBudget);
    }
    this.#streams.set(streamId, stream);
    return stream;
  }

  #touch(stream: StreamState, time: number): void {
    const ex = stream.exchange;
    if (time > ex.lastTimeSeconds) ex.lastTimeSeconds = time;
    if (time < ex.firstTimeSeconds) ex.firstTimeSeconds = time;
  }

  #endSide(streamId: number, stream: StreamState, side: Side): void {
    if (side === 'client') stream.clientEnded = true;
    else stream.serverEnded = true;
    if (stream.clientEnded && stream.serverEnded) {
      stream.exchange.complete = true;
      this.#finish(streamId, stream);
    }
  }

  #finish(streamId: number, stream: StreamState): void {
    this.#streams.delete(streamId);
    const ex = stream.exchange;
    if (stream.requestBody) ex.requestBody = stream.requestBody.take(headerValue(ex.requestHeaders, 'content-encoding'));
    if (stream.responseBody) ex.responseBody = stream.responseBody.take(ex.contentEncoding);
    this.#options.onExchange(ex);
  }
}
