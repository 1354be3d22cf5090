/**
 * HTTP/2 frames (RFC 9113 §4, §6): the 9-byte header, payload parsers for every frame type, and a
 * streaming reader that cuts one direction's byte stream into frames. DATA payloads are passed on as
 * slices of the input without copying (they are most of the bytes); other payloads are small and buffered.
 */

export const FrameType = {
  DATA: 0x0,
  HEADERS: 0x1,
  PRIORITY: 0x2,
  RST_STREAM: 0x3,
  SETTINGS: 0x4,
  PUSH_PROMISE: 0x5,
  PING: 0x6,
  GOAWAY: 0x7,
  WINDOW_UPDATE: 0x8,
  CONTINUATION: 0x9,
} as const;

export const Flag = {
  END_STREAM: 0x1,
  ACK: 0x1,
  END_HEADERS: 0x4,
  PADDED: 0x8,
  PRIORITY: 0x20,
} as const;

export const SettingId = {
  HEADER_TABLE_SIZE: 0x1,
  ENABLE_PUSH: 0x2,
  MAX_CONCURRENT_STREAMS: 0x3,
  INITIAL_WINDOW_SIZE: 0x4,
  MAX_FRAME_SIZE: 0x5,
  MAX_HEADER_LIST_SIZE: 0x6,
} as const;

export const CLIENT_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
export const FRAME_HEADER_LENGTH = 9;
/** The largest SETTINGS_MAX_FRAME_SIZE a peer may announce (2^24 - 1). */
export const MAX_FRAME_LENGTH = 0xffffff;

/** A connection-level protocol error: the rest of the connection cannot be decoded. */
export class Http2Error extends Error {}

export interface FrameHeader {
  length: number;
  type: number;
  flags: number;
  streamId: number;
}

export function parseFrameHeader(buf: Uint8Array, off: number): FrameHeader {
  if (off + FRAME_HEADER_LENGTH > buf.length) throw new Http2Error('truncated frame header');
  return {
    length: (buf[off]! << 16) | (buf[off + 1]! << 8) | buf[off + 2]!,
    type: buf[off + 3]!,
    flags: buf[off + 4]!,
    streamId: readUint31(buf, off + 5),
  };
}

const readUint31 = (b: Uint8Array, off: number): number =>
  ((b[off]! & 0x7f) * 0x1000000) + ((b[off + 1]! << 16) | (b[off + 2]! << 8) | b[off + 3]!);
const readUint32 = (b: Uint8Array, off: number): number =>
  (b[off]! * 0x1000000) + ((b[off + 1]! << 16) | (b[off + 2]! << 8) | b[off + 3]!);

/** The bounds of a padded payload's content: [start, end) after the pad length byte, before the padding. */
export function unpad(payload: Uint8Array, flags: number, extraHeader = 0): { start: number; end: number } {
  if (!(flags & Flag.PADDED)) {
    if (payload.length < extraHeader) throw new Http2Error('frame too short');
    return { start: extraHeader, end: payload.length };
  }
  if (payload.length < 1 + extraHeader) throw new Http2Error('padded frame too short');
  const padLength = payload[0]!;
  const end = payload.length - padLength;
  if (end < 1 + extraHeader) throw new Http2Error('padding exceeds the frame payload');
  return { start: 1 + extraHeader, end };
}

export interface Priority {
  exclusive: boolean;
  dependsOn: number;
  weight: number;
}

function readPriority(b: Uint8Array, off: number): Priority {
  return { exclusive: (b[off]! & 0x80) !== 0, dependsOn: readUint31(b, off), weight: b[off + 4]! + 1 };
}

export interface HeadersPayload {
  fragment: Uint8Array;
  priority?: Priority;
}

export function parseHeadersPayload(payload: Uint8Array, flags: number): HeadersPayload {
  const hasPriority = (flags & Flag.PRIORITY) !== 0;
  const { start, end } = unpad(payload, flags, hasPriority ? 5 : 0);
  const fragment = payload.subarray(start, end);
  if (!hasPriority) return { fragment };
  return { fragment, priority: readPriority(payload, start - 5) };
}

export function parsePriorityPayload(payload: Uint8Array): Priority {
  if (payload.length !== 5) throw new Http2Error('PRIORITY frame is not 5 bytes');
  return readPriority(payload, 0);
}

export function parseRstStream(payload: Uint8Array): number {
  if (payload.length !== 4) throw new Http2Error('RST_STREAM frame is not 4 bytes');
  return readUint32(payload, 0);
}

export function parseSettings(payload: Uint8Array, flags: number): Array<[id: number, value: number]> {
  if (flags & Flag.ACK) {
    if (payload.length !== 0) throw new Http2Error('SETTINGS ACK with a payload');
    return [];
  }
  if (payload.length % 6 !== 0) throw new Http2Error('SETTINGS payload is not a multiple of 6 bytes');
  const settings: Array<[number, number]> = [];
  for (let off = 0; off < payload.length; off += 6) {
    settings.push([(payload[off]! << 8) | payload[off + 1]!, readUint32(payload, off + 2)]);
  }
  return settings;
}

export function parsePushPromise(payload: Uint8Array, flags: number): { promisedStreamId: number; fragment: Uint8Array } {
  const { start, end } = unpad(payload, flags, 4);
  return { promisedStreamId: readUint31(payload, start - 4), fragment: payload.subarray(start, end) };
}

export function parsePing(payload: Uint8Array): Uint8Array {
  if (payload.length !== 8) throw new Http2Error('PING frame is not 8 bytes');
  return payload;
}

export function parseGoaway(payload: Uint8Array): { lastStreamId: number; errorCode: number; debugData: string } {
  if (payload.length < 8) throw new Http2Error('GOAWAY frame shorter than 8 bytes');
  return {
    lastStreamId: readUint31(payload, 0),
    errorCode: readUint32(payload, 4),
    debugData: Buffer.from(payload.buffer, payload.byteOffset + 8, payload.length - 8).toString('latin1'),
  };
}

export function parseWindowUpdate(payload: Uint8Array): number {
  if (payload.length !== 4) throw new Http2Error('WINDOW_UPDATE frame is not 4 bytes');
  return readUint31(payload, 0);
}

const ERROR_CODES = [
  'NO_ERROR', 'PROTOCOL_ERROR', 'INTERNAL_ERROR', 'FLOW_CONTROL_ERROR', 'SETTINGS_TIMEOUT', 'STREAM_CLOSED',
  'FRAME_SIZE_ERROR', 'REFUSED_STREAM', 'CANCEL', 'COMPRESSION_ERROR', 'CONNECT_ERROR', 'ENHANCE_YOUR_CALM',
  'INADEQUATE_SECURITY', 'HTTP_1_1_REQUIRED',
];
export const errorCodeName = (code: number): string => ERROR_CODES[code] ?? `0x${code.toString(16)}`;

export interface FrameSink {
  /** A complete non-DATA frame. */
  frame(header: FrameHeader, payload: Uint8Array): void;
  /**
   * A piece of a DATA frame's content (padding removed): pieces arrive in order; `last` marks the
   * frame's final piece (an empty piece may carry it). `header.length` is the whole frame's length.
   */
  data(header: FrameHeader, piece: Uint8Array, last: boolean): void;
}

/**
 * Cuts a byte stream into frames. Frames may be split across chunks anywhere; frames longer than
 * `maxFrameLength` are a connection error (they would make us buffer without bound).
 */
export class FrameReader {
  #headerBuf = new Uint8Array(FRAME_HEADER_LENGTH);
  #headerFill = 0;
  #current: FrameHeader | null = null;
  #payload: Uint8Array | null = null;
  #payloadFill = 0;
  /** DATA frame progress: bytes of the frame consumed so far, and the content bounds once known. */
  #dataPos = 0;
  #dataStart = 0;
  #dataEnd = 0;
  readonly #sink: FrameSink;

  constructor(
    sink: FrameSink,
    public maxFrameLength = MAX_FRAME_LENGTH,
  ) {
    this.#sink = sink;
  }

  push(chunk: Uint8Array): void {
    let off = 0;
    while (off < chunk.length) {
      if (!this.#current) {
        if (this.#headerFill === 0 && chunk.length - off >= FRAME_HEADER_LENGTH) {
          // A whole header in the chunk is read where it is (no copy, no view per frame).
          this.#startFrame(parseFrameHeader(chunk, off));
          off += FRAME_HEADER_LENGTH;
          continue;
        }
        const take = Math.min(FRAME_HEADER_LENGTH - this.#headerFill, chunk.length - off);
        this.#headerBuf.set(chunk.subarray(off, off + take), this.#headerFill);
        this.#headerFill += take;
        off += take;
        if (this.#headerFill < FRAME_HEADER_LENGTH) return;
        this.#headerFill = 0;
        this.#startFrame(parseFrameHeader(this.#headerBuf, 0));
        continue;
      }
      off = this.#current.type === FrameType.DATA ? this.#consumeData(chunk, off) : this.#consumeOther(chunk, off);
    }
  }

  #startFrame(header: FrameHeader): void {
    if (header.length > this.maxFrameLength) {
      throw new Http2Error(`frame of ${header.length} bytes exceeds the maximum frame size ${this.maxFrameLength}`);
    }
    this.#current = header;
    if (header.type === FrameType.DATA) {
      this.#dataPos = 0;
      this.#dataStart = header.flags & Flag.PADDED ? 1 : 0;
      this.#dataEnd = header.length;
      if (header.length === 0) {
        if (header.flags & Flag.PADDED) throw new Http2Error('padded frame too short');
        this.#finishData(new Uint8Array(0));
      }
      return;
    }
    this.#payload = new Uint8Array(header.length);
    this.#payloadFill = 0;
    if (header.length === 0) this.#finishOther();
  }

  #consumeData(chunk: Uint8Array, off: number): number {
    const header = this.#current!;
    const take = Math.min(header.length - this.#dataPos, chunk.length - off);
    const from = this.#dataPos;
    const to = from + take;
    if (from === 0 && header.flags & Flag.PADDED) {
      this.#dataEnd = header.length - chunk[off]!;
      if (this.#dataEnd < 1) throw new Http2Error('padding exceeds the frame payload');
    }
    this.#dataPos = to;
    const lo = Math.max(from, this.#dataStart);
    const hi = Math.min(to, this.#dataEnd);
    const piece = hi > lo ? chunk.subarray(off + lo - from, off + hi - from) : EMPTY;
    if (to === header.length) this.#finishData(piece);
    else if (piece.length > 0) this.#sink.data(header, piece, false);
    return off + take;
  }

  #finishData(piece: Uint8Array): void {
    const header = this.#current!;
    this.#current = null;
    this.#sink.data(header, piece, true);
  }

  #consumeOther(chunk: Uint8Array, off: number): number {
    const payload = this.#payload!;
    const take = Math.min(payload.length - this.#payloadFill, chunk.length - off);
    payload.set(chunk.subarray(off, off + take), this.#payloadFill);
    this.#payloadFill += take;
    if (this.#payloadFill === payload.length) this.#finishOther();
    return off + take;
  }

  #finishOther(): void {
    const header = this.#current!;
    const payload = this.#payload!;
    this.#current = null;
    this.#payload = null;
    this.#sink.frame(header, payload);
  }
}

const EMPTY = new Uint8Array(0);
