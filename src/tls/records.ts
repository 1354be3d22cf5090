/** TLS record framing over a reassembled byte stream. */

export const ContentType = {
  CHANGE_CIPHER_SPEC: 20,
  ALERT: 21,
  HANDSHAKE: 22,
  APPLICATION_DATA: 23,
} as const;

/** Largest record body any version allows (TLSCiphertext: 2^14 + 2048). */
export const MAX_RECORD_BODY = 16384 + 2048;
const HEADER = 5;

export interface TlsRecord {
  type: number;
  version: number;
  /** The 5 header bytes (the TLS 1.3 AAD). */
  header: Uint8Array;
  body: Uint8Array;
}

/**
 * The one test of "this is a TLS record header". Whether the bytes at `at` can start a record as far as they
 * go: a known content type (20–23), then version 3.x. Enough for the first bytes of a stream or a segment,
 * which may hold less than a header.
 */
export function startsLikeRecord(b: Uint8Array, at = 0): boolean {
  const type = b[at];
  return type !== undefined && type >= ContentType.CHANGE_CIPHER_SPEC && type <= ContentType.APPLICATION_DATA && (b.length < at + 2 || b[at + 1] === 3);
}

/** Whether these 5 bytes can start a record: a known content type, version 3.x, a legal length. */
export function isRecordHeader(b: Uint8Array, at = 0): boolean {
  return b.length >= at + HEADER && startsLikeRecord(b, at) && bodyLength(b, at) <= MAX_RECORD_BODY;
}

/**
 * The handshake message type that starts `payload` when it starts with a handshake record (the first
 * segment of a hello): only the record and handshake headers are looked at, cheap enough for every packet.
 */
export function handshakeTypeAtStart(payload: Uint8Array): number | undefined {
  if (payload.length < HEADER + 1 || payload[0] !== ContentType.HANDSHAKE || !startsLikeRecord(payload)) return undefined;
  return payload[HEADER];
}

/** A whole record of the largest size: the size of the gather buffers that are kept for reuse. */
const FULL_RECORD = HEADER + MAX_RECORD_BODY;
/** Gather buffers smaller than this come from Node's shared pool (allocUnsafe) and are not kept. */
const REUSE_FROM = 4096;
/**
 * Full-size gather buffers of records already visited, shared by every splitter: bulk transfers split most
 * records across segments, and a fresh 16 KiB buffer for each is the larger part of the GC work. Bounded, so
 * idle connections hold none.
 */
const spareGatherBuffers: Buffer[] = [];
const MAX_SPARE_GATHER_BUFFERS = 16;

/**
 * Cuts a stream into records. Complete records inside a chunk are passed as views of it; a record split
 * across chunks is gathered into one buffer as its bytes arrive (each byte copied once). A record is valid
 * only during its `visit` (its buffer is reused afterwards): copy what you keep.
 */
export class RecordSplitter {
  /** The record being gathered: its first 5 bytes, then (header known) a buffer of its whole length. */
  #partial: Buffer | null = null;
  #filled = 0;

  /** Bytes held back waiting for the rest of a record. */
  get buffered(): number {
    return this.#filled;
  }

  /**
   * A scanner through the records this splitter will cut from here on, without moving this one (the records
   * to come, looked at ahead of their turn): records whose body is at most `maxBody` long are passed whole,
   * longer ones by their header only (their bytes are skipped, not gathered).
   */
  scanAhead(maxBody: number): RecordScanner {
    return new RecordScanner(maxBody, this.#partial, this.#filled);
  }

  /**
   * Feeds bytes; `visit` gets each complete record and returns false to stop. Returns false when a header is
   * not a TLS record header (the stream is then unusable).
   */
  push(bytes: Uint8Array, visit: (record: TlsRecord) => boolean): boolean {
    let at = 0;
    if (this.#partial) {
      if (this.#filled < HEADER) {
        const n = Math.min(HEADER - this.#filled, bytes.length);
        this.#partial.set(bytes.subarray(0, n), this.#filled);
        this.#filled += n;
        at = n;
        if (this.#filled < HEADER) return true;
        if (!isRecordHeader(this.#partial)) return false;
        const whole = gatherBuffer(HEADER + bodyLength(this.#partial));
        this.#partial.copy(whole, 0, 0, HEADER);
        this.#partial = whole;
      }
      const n = Math.min(this.#partial.length - this.#filled, bytes.length - at);
      // A segment in the middle of a record is taken whole: no view to make.
      this.#partial.set(at === 0 && n === bytes.length ? bytes : bytes.subarray(at, at + n), this.#filled);
      this.#filled += n;
      at += n;
      if (this.#filled < this.#partial.length) return true;
      const record = this.#partial;
      this.#partial = null;
      this.#filled = 0;
      const more = visit(recordAt(record, 0, record.length));
      releaseGatherBuffer(record);
      if (!more) return true;
    }
    return this.#split(bytes, at, visit);
  }

  #split(bytes: Uint8Array, at: number, visit: (record: TlsRecord) => boolean): boolean {
    while (bytes.length - at >= HEADER) {
      if (!isRecordHeader(bytes, at)) return false;
      const end = at + HEADER + bodyLength(bytes, at);
      if (end > bytes.length) break;
      const record = recordAt(bytes, at, end);
      at = end;
      if (!visit(record)) return true;
    }
    if (at < bytes.length) {
      const rest = bytes.subarray(at);
      // With the header known, the buffer gets the record's full size at once.
      const size = rest.length >= HEADER ? HEADER + bodyLength(rest) : HEADER;
      this.#partial = gatherBuffer(size);
      this.#partial.set(rest);
      this.#filled = rest.length;
    }
    return true;
  }
}

/**
 * The records of a stream as RecordSplitter cuts them, for looking ahead: `visit(record, at, bodyLength)` gets
 * each record's bytes from `at` in `record` (only during the call), whose body is there when it is at most
 * `maxBody` long (else only the 5 header bytes are). Stops at a header that is not a TLS record header.
 */
export class RecordScanner {
  readonly #maxBody: number;
  /** The record being gathered: its header, then its whole length when its body is kept. */
  #partial: Buffer = Buffer.allocUnsafe(HEADER);
  #filled = 0;
  /** Body bytes of the record being gathered still to come (-1: its header is not complete yet). */
  #left = -1;

  constructor(maxBody: number, partial: Buffer | null, filled: number) {
    this.#maxBody = maxBody;
    if (!partial) return;
    this.#partial.set(partial.subarray(0, Math.min(filled, HEADER)));
    this.#filled = Math.min(filled, HEADER);
    if (filled >= HEADER) this.#startBody(partial.subarray(HEADER, filled));
  }

  /** Returns false when scanning must stop (a bad header, or `visit` said so). */
  push(bytes: Uint8Array, visit: (record: Uint8Array, at: number, bodyLength: number) => boolean): boolean {
    let at = 0;
    const length = bytes.length;
    while (at < length) {
      if (this.#left < 0) {
        if (this.#filled === 0 && length - at >= HEADER) {
          // A header in this chunk: a record wholly inside it is passed as it is.
          if (!isRecordHeader(bytes, at)) return false;
          const body = bodyLength(bytes, at);
          if (length - at >= HEADER + body) {
            if (!visit(bytes, at, body)) return false;
            at += HEADER + body;
            continue;
          }
        }
        const n = Math.min(HEADER - this.#filled, length - at);
        for (let i = 0; i < n; i++) this.#partial[this.#filled + i] = bytes[at + i]!;
        this.#filled += n;
        at += n;
        if (this.#filled < HEADER) return true;
        if (!isRecordHeader(this.#partial)) return false;
        this.#startBody(undefined);
      }
      const n = Math.min(this.#left, length - at);
      if (this.#partial.length > HEADER) this.#partial.set(n === length ? bytes : bytes.subarray(at, at + n), this.#filled);
      this.#filled += n;
      this.#left -= n;
      at += n;
      if (this.#left > 0) return true;
      const more = visit(this.#partial, 0, bodyLength(this.#partial));
      this.#filled = 0;
      this.#left = -1;
      if (!more) return false;
    }
    return true;
  }

  /** The header is complete: gather the body (`already`: its first bytes) when it is kept, else skip it. */
  #startBody(already: Uint8Array | undefined): void {
    const body = bodyLength(this.#partial);
    if (body <= this.#maxBody) {
      const whole = Buffer.allocUnsafe(HEADER + body);
      whole.set(this.#partial.subarray(0, HEADER));
      if (already) whole.set(already, HEADER);
      this.#partial = whole;
    } else if (this.#partial.length > HEADER) {
      this.#partial = this.#partial.subarray(0, HEADER);
    }
    const gathered = already?.length ?? 0;
    this.#filled = HEADER + (body <= this.#maxBody ? gathered : 0);
    this.#left = body - gathered;
  }
}

/** A buffer of `size` bytes for a record split across chunks: a view of a spare full-size one when it is large. */
function gatherBuffer(size: number): Buffer {
  if (size < REUSE_FROM) return Buffer.allocUnsafe(size);
  const full = spareGatherBuffers.pop() ?? Buffer.allocUnsafe(FULL_RECORD);
  return full.subarray(0, size);
}

function releaseGatherBuffer(record: Buffer): void {
  if (record.length >= REUSE_FROM && spareGatherBuffers.length < MAX_SPARE_GATHER_BUFFERS) {
    spareGatherBuffers.push(Buffer.from(record.buffer, record.byteOffset, FULL_RECORD));
  }
}

/** The body length a record header at `at` declares. */
function bodyLength(b: Uint8Array, at = 0): number {
  return (b[at + 3]! << 8) | b[at + 4]!;
}

function recordAt(bytes: Uint8Array, at: number, end: number): TlsRecord {
  return {
    type: bytes[at]!,
    version: (bytes[at + 1]! << 8) | bytes[at + 2]!,
    header: bytes.subarray(at, at + HEADER),
    body: bytes.subarray(at + HEADER, end),
  };
}

/** Reassembles handshake messages (4-byte header: type, 24-bit length) that may span records. */
export class HandshakeAssembler {
  #pending: Buffer = Buffer.alloc(0);

  /** Largest handshake message accepted (a certificate chain fits with room to spare). */
  static readonly MAX_MESSAGE = 1 << 20;

  /** Feeds handshake-record plaintext; returns the complete messages, or null when a length is absurd. */
  push(fragment: Uint8Array): { type: number; body: Uint8Array }[] | null {
    const data = this.#pending.length === 0 ? fragment : Buffer.concat([this.#pending, fragment]);
    const messages: { type: number; body: Uint8Array }[] = [];
    let at = 0;
    while (data.length - at >= 4) {
      const length = (data[at + 1]! << 16) | (data[at + 2]! << 8) | data[at + 3]!;
      if (length > HandshakeAssembler.MAX_MESSAGE) return null;
      if (data.length - at - 4 < length) break;
      messages.push({ type: data[at]!, body: data.subarray(at + 4, at + 4 + length) });
      at += 4 + length;
    }
    this.#pending = Buffer.from(data.subarray(at));
    return messages;
  }
}
