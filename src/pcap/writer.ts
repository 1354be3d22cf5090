import os from 'node:os';
import { errnoReason, GokeylogError } from '../util/errors.js';
import { BlockType, SECRETS_TYPE_TLS_KEY_LOG, type PcapngOption, type TimestampResolution } from './blocks.js';
import { OptionCode, encodeOptions, encodedOptionsLength, pad4 } from './options.js';

const NO_OPTIONS: readonly PcapngOption[] = [];

/** Blocks are gathered in buffers of this size and written whole: few large writes instead of one per block. */
const STAGING_SIZE = 1024 * 1024;
/** Buffers kept for reuse; more than the stream's high-water mark would only sit idle. */
const POOL_LIMIT = 16;

export interface InterfaceDescription {
  linkType: number;
  snapLength?: number;
  /** Default 10^-6 (microseconds), which needs no if_tsresol option. */
  tsResolution?: TimestampResolution;
  name?: string;
  /** Further options, written as given. */
  options?: PcapngOption[];
}

export interface PacketToWrite {
  interfaceId: number;
  /** In units of the interface's resolution. */
  timestampUnits: bigint;
  data: Uint8Array;
  /** Default: data.length. */
  originalLength?: number;
  comments?: string[];
  /** Further options, written as given. */
  options?: PcapngOption[];
}

/**
 * Streams pcapng blocks to a writable stream. Every block is encoded or copied into pooled staging buffers
 * (so callers may reuse their memory at once) that go to the stream whole; a buffer comes back to the pool
 * when the stream has written it, so memory stays flat however much passes through. Writes are synchronous;
 * call `await drain()` now and then (e.g. once per input chunk) so a slow stream pushes back, and
 * `await end()` at the end.
 */
export class PcapngWriter {
  /** Byte order of the blocks written next: a section copied from another file may set its own. */
  littleEndian: boolean;
  readonly #out: NodeJS.WritableStream;
  readonly #pool: Buffer[] = [];
  #current: Staging;
  #mustDrain = false;
  #error: Error | undefined;
  #bytesWritten = 0;

  readonly #name: string;

  /** `name` says what is written to in error messages (a path, "standard output"). */
  constructor(out: NodeJS.WritableStream, opts: { littleEndian?: boolean; name?: string } = {}) {
    this.#out = out;
    this.#name = opts.name ?? 'the pcapng output';
    this.littleEndian = opts.littleEndian ?? os.endianness() === 'LE';
    this.#current = this.#newStaging(STAGING_SIZE);
    out.on('error', (err: Error) => {
      this.#error ??= err;
    });
  }

  /** Bytes handed to the writer so far. */
  get bytesWritten(): number {
    return this.#bytesWritten;
  }

  writeSectionHeader(opts: { userAppl?: string; comment?: string; options?: PcapngOption[] } = {}): void {
    const options = [...(opts.options ?? [])];
    if (opts.comment !== undefined) options.push(textOption(OptionCode.COMMENT, opts.comment));
    if (opts.userAppl !== undefined) options.push(textOption(OptionCode.SHB_USERAPPL, opts.userAppl));
    // Type, length, byte-order magic, versions and the 64-bit section length are 24 bytes; options start at 24.
    const length = 24 + encodedOptionsLength(options) + 4;
    const { buf, pos } = this.#reserve(length, BlockType.SECTION_HEADER);
    this.#u32(buf, pos + 8, 0x1a2b3c4d);
    this.#u16(buf, pos + 12, 1);
    this.#u16(buf, pos + 14, 0);
    buf.writeBigInt64LE(-1n, pos + 16); // section length unknown: -1 reads the same in both byte orders
    encodeOptions(buf, pos + 24, options, this.littleEndian);
  }

  /** Writes an IDB; its interface id is its index in the section, which the caller keeps track of. */
  writeInterface(desc: InterfaceDescription): void {
    // A pcap header's link type is 32 bits (26 of them the type); a pcapng interface block has 16.
    if (!Number.isInteger(desc.linkType) || desc.linkType < 0 || desc.linkType > 0xffff) {
      throw new GokeylogError(`link type ${desc.linkType} does not fit in a pcapng interface block (at most 65535): not a capture pcapng can hold.`, 'GOKEYLOG_ERR_BAD_CAPTURE');
    }
    const options = [...(desc.options ?? [])];
    if (desc.name !== undefined) options.push(textOption(OptionCode.IF_NAME, desc.name));
    const res = desc.tsResolution;
    if (res && !(res.base === 10 && res.exponent === 6)) {
      options.push({ code: OptionCode.IF_TSRESOL, value: Uint8Array.of(res.base === 2 ? 0x80 | res.exponent : res.exponent) });
    }
    const length = 16 + encodedOptionsLength(options) + 4;
    const { buf, pos } = this.#reserve(length, BlockType.INTERFACE_DESCRIPTION);
    this.#u16(buf, pos + 8, desc.linkType);
    this.#u16(buf, pos + 10, 0);
    this.#u32(buf, pos + 12, desc.snapLength ?? 0);
    encodeOptions(buf, pos + 16, options, this.littleEndian);
  }

  writePacket(p: PacketToWrite): void {
    const high = Number(p.timestampUnits >> 32n);
    const low = Number(p.timestampUnits & 0xffffffffn);
    const data = Buffer.from(p.data.buffer, p.data.byteOffset, p.data.byteLength);
    const options = p.comments || p.options ? [...(p.options ?? []), ...(p.comments ?? []).map((c) => textOption(OptionCode.COMMENT, c))] : NO_OPTIONS;
    this.writeEnhancedPacket(p.interfaceId, high, low, data, 0, data.length, p.originalLength ?? data.length, options);
  }

  /**
   * An EPB from source[start, start + capturedLength), the timestamp as two 32-bit halves of interface units:
   * for converting millions of packets with no object or BigInt per packet.
   */
  writeEnhancedPacket(interfaceId: number, timestampHigh: number, timestampLow: number, source: Buffer, start: number, capturedLength: number, originalLength: number, options: readonly PcapngOption[] = NO_OPTIONS): void {
    const padded = pad4(capturedLength);
    const length = 28 + padded + encodedOptionsLength(options) + 4;
    const { buf, pos } = this.#reserve(length, BlockType.ENHANCED_PACKET);
    this.#u32(buf, pos + 8, interfaceId);
    this.#u32(buf, pos + 12, timestampHigh);
    this.#u32(buf, pos + 16, timestampLow);
    this.#u32(buf, pos + 20, capturedLength);
    this.#u32(buf, pos + 24, originalLength);
    source.copy(buf, pos + 28, start, start + capturedLength);
    for (let i = pos + 28 + capturedLength; i < pos + 28 + padded; i++) buf[i] = 0;
    encodeOptions(buf, pos + 28 + padded, options, this.littleEndian);
  }

  /** A Decryption Secrets Block (NSS key log by default), padded to 4 bytes. */
  writeSecrets(data: Uint8Array, secretsType: number = SECRETS_TYPE_TLS_KEY_LOG): void {
    const padded = pad4(data.length);
    const { buf, pos } = this.#reserve(16 + padded + 4, BlockType.DECRYPTION_SECRETS);
    this.#u32(buf, pos + 8, secretsType);
    this.#u32(buf, pos + 12, data.length);
    buf.set(data, pos + 16);
    buf.fill(0, pos + 16 + data.length, pos + 16 + padded);
  }

  /** A complete block (or several) in this writer's byte order, copied as is. */
  writeRaw(block: Uint8Array): void {
    this.writeRawRange(Buffer.from(block.buffer, block.byteOffset, block.byteLength), 0, block.byteLength);
  }

  /** The same for buf[start, end): for copying many blocks of one chunk with no view per block. */
  writeRawRange(buf: Buffer, start: number, end: number): void {
    this.#bytesWritten += end - start;
    while (start < end) {
      let staging = this.#current;
      if (staging.used === staging.buf.length) staging = this.#replaceCurrent(STAGING_SIZE);
      const n = Math.min(end - start, staging.buf.length - staging.used);
      buf.copy(staging.buf, staging.used, start, start + n);
      staging.used += n;
      start += n;
    }
  }

  /** Hands what is gathered to the stream and waits if the stream asked to (backpressure). */
  async drain(): Promise<void> {
    this.#handOver(this.#current);
    this.#throwIfFailed();
    if (!this.#mustDrain) return;
    this.#mustDrain = false;
    await this.#waitFor('drain');
  }

  /** Writes everything out and ends the stream; resolves once the stream has finished. */
  async end(): Promise<void> {
    this.#handOver(this.#current);
    this.#throwIfFailed();
    const finished = this.#waitFor('finish');
    this.#out.end();
    await finished;
  }

  #waitFor(event: 'drain' | 'finish'): Promise<void> {
    return new Promise((resolve, reject) => {
      const onEvent = (): void => {
        this.#out.off('error', onError);
        resolve();
      };
      const onError = (err: Error): void => {
        this.#out.off(event, onEvent);
        reject(this.#failure(err));
      };
      this.#out.once(event, onEvent);
      this.#out.once('error', onError);
    });
  }

  #throwIfFailed(): void {
    if (this.#error) throw this.#failure(this.#error);
  }

  #failure(err: Error): GokeylogError {
    return new GokeylogError(`cannot write ${this.#name}: ${errnoReason(err)}.`, 'GOKEYLOG_ERR_IO', { cause: err });
  }

  /** Room for one block in the current staging buffer, with its type and both lengths already written. */
  #reserve(length: number, type: number): { buf: Buffer; pos: number } {
    let staging = this.#current;
    if (staging.used + length > staging.buf.length) staging = this.#replaceCurrent(Math.max(STAGING_SIZE, length));
    const buf = staging.buf;
    const pos = staging.used;
    this.#u32(buf, pos, type);
    this.#u32(buf, pos + 4, length);
    this.#u32(buf, pos + length - 4, length);
    staging.used += length;
    this.#bytesWritten += length;
    return { buf, pos };
  }

  /** Sends the current staging buffer off and starts a new one of at least `size` bytes. */
  #replaceCurrent(size: number): Staging {
    const old = this.#current;
    this.#handOver(old);
    old.retired = true;
    this.#recycleIfDone(old);
    this.#current = this.#newStaging(size);
    return this.#current;
  }

  #newStaging(size: number): Staging {
    const buf = size === STAGING_SIZE ? (this.#pool.pop() ?? Buffer.allocUnsafe(size)) : Buffer.allocUnsafe(size);
    return { buf, used: 0, sent: 0, inFlight: 0, retired: false };
  }

  /** Writes what the buffer holds beyond what was already sent. */
  #handOver(staging: Staging): void {
    if (staging.used === staging.sent) return;
    staging.inFlight++;
    const more = this.#out.write(staging.buf.subarray(staging.sent, staging.used), () => {
      staging.inFlight--;
      this.#recycleIfDone(staging);
    });
    if (!more) this.#mustDrain = true;
    staging.sent = staging.used;
  }

  #recycleIfDone(staging: Staging): void {
    if (staging.retired && staging.inFlight === 0 && staging.buf.length === STAGING_SIZE && this.#pool.length < POOL_LIMIT) this.#pool.push(staging.buf);
  }

  /** Byte by byte: Buffer.writeUInt32* validate their arguments, which shows at millions of blocks. */
  #u32(buf: Buffer, pos: number, v: number): void {
    if (this.littleEndian) {
      buf[pos] = v;
      buf[pos + 1] = v >>> 8;
      buf[pos + 2] = v >>> 16;
      buf[pos + 3] = v >>> 24;
    } else {
      buf[pos] = v >>> 24;
      buf[pos + 1] = v >>> 16;
      buf[pos + 2] = v >>> 8;
      buf[pos + 3] = v;
    }
  }

  #u16(buf: Buffer, pos: number, v: number): void {
    if (this.littleEndian) buf.writeUInt16LE(v, pos);
    else buf.writeUInt16BE(v, pos);
  }
}

/** A staging buffer: filled up to `used`, handed to the stream up to `sent`, with writes not yet done. */
interface Staging {
  buf: Buffer;
  used: number;
  sent: number;
  inFlight: number;
  /** No longer filled: back to the pool once nothing of it is in flight. */
  retired: boolean;
}

function textOption(code: number, text: string): PcapngOption {
  return { code, value: Buffer.from(text, 'utf8') };
}
