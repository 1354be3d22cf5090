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

/** Whether these 5 bytes can start a record: a known content type, version 3.x, a legal length. */
export function isRecordHeader(b: Uint8Array, at = 0): boolean {
  if (b.length < at + HEADER) return false;
  const type = b[at]!;
  return type >= 20 && type <= 23 && b[at + 1] === 3 && ((b[at + 3]! << 8) | b[at + 4]!) <= MAX_RECORD_BODY;
}

/**
 * Cuts a stream into records. Complete records inside a chunk are passed as views of it; a record split
 * across chunks is gathered once (each byte copied at most twice, never per chunk).
 */
export class RecordSplitter {
  private parts: Uint8Array[] = [];
  private partsLength = 0;

  /** Bytes held back waiting for the rest of a record. */
  get buffered(): number {
    return this.partsLength;
  }

  /**
   * Feeds bytes; `visit` gets each complete record and returns false to stop. Returns false when a header is
   * not a TLS record header (the stream is then unusable).
   */
  push(bytes: Uint8Array, visit: (record: TlsRecord) => boolean): boolean {
    if (this.partsLength === 0) return this.split(bytes, visit);
    this.parts.push(Uint8Array.prototype.slice.call(bytes));
    this.partsLength += bytes.length;
    if (this.partsLength < HEADER) return true;
    const header = this.peekHeader();
    if (!isRecordHeader(header)) return false;
    const needed = HEADER + ((header[3]! << 8) | header[4]!);
    if (this.partsLength < needed) return true;
    const joined = Buffer.concat(this.parts, this.partsLength);
    this.parts = [];
    this.partsLength = 0;
    return this.split(joined, visit);
  }

  private split(bytes: Uint8Array, visit: (record: TlsRecord) => boolean): boolean {
    let at = 0;
    while (bytes.length - at >= HEADER) {
      if (!isRecordHeader(bytes, at)) return false;
      const end = at + HEADER + ((bytes[at + 3]! << 8) | bytes[at + 4]!);
      if (end > bytes.length) break;
      const record: TlsRecord = {
        type: bytes[at]!,
        version: (bytes[at + 1]! << 8) | bytes[at + 2]!,
        header: bytes.subarray(at, at + HEADER),
        body: bytes.subarray(at + HEADER, end),
      };
      at = end;
      if (!visit(record)) return true;
    }
    if (at < bytes.length) {
      this.parts = [Uint8Array.prototype.slice.call(bytes, at)];
      this.partsLength = bytes.length - at;
    }
    return true;
  }

  private peekHeader(): Uint8Array {
    const header = new Uint8Array(HEADER);
    let filled = 0;
    for (const part of this.parts) {
      const n = Math.min(part.length, HEADER - filled);
      header.set(part.subarray(0, n), filled);
      filled += n;
      if (filled === HEADER) break;
    }
    return header;
  }
}

/** Reassembles handshake messages (4-byte header: type, 24-bit length) that may span records. */
export class HandshakeAssembler {
  private pending: Buffer = Buffer.alloc(0);

  /** Largest handshake message accepted (a certificate chain fits with room to spare). */
  static readonly MAX_MESSAGE = 1 << 20;

  /** Feeds handshake-record plaintext; returns the complete messages, or null when a length is absurd. */
  push(fragment: Uint8Array): { type: number; body: Uint8Array }[] | null {
    const data = this.pending.length === 0 ? fragment : Buffer.concat([this.pending, fragment]);
    const messages: { type: number; body: Uint8Array }[] = [];
    let at = 0;
    while (data.length - at >= 4) {
      const length = (data[at + 1]! << 16) | (data[at + 2]! << 8) | data[at + 3]!;
      if (length > HandshakeAssembler.MAX_MESSAGE) return null;
      if (data.length - at - 4 < length) break;
      messages.push({ type: data[at]!, body: data.subarray(at + 4, at + 4 + length) });
      at += 4 + length;
    }
    this.pending = Buffer.from(data.subarray(at));
    return messages;
  }
}
