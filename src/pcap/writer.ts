import os from 'node:os';
import { BlockType, SECRETS_TYPE_TLS_KEY_LOG, type PcapngOption, type TimestampResolution } from './blocks.js';
import { OptionCode, encodeOptions, encodedOptionsLength, pad4 } from './options.js';

/** Bytes gathered before they are handed to the stream: few large writes instead of one per packet. */
const FLUSH_THRESHOLD = 1024 * 1024;

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
 * Streams pcapng blocks to a writable stream. Writes are synchronous appends; call `await drain()` now and then
 * (e.g. once per input chunk) so a slow stream pushes back, and `await end()` at the end. Raw blocks copied from
 * another pcapng are passed as views, and neighbouring views of one chunk are written as one piece.
 */
export class PcapngWriter {
  /** Byte order of the blocks written next: a section copied from another file may set its own. */
  littleEndian: boolean;
  readonly #out: NodeJS.WritableStream;
  #pieces: Uint8Array[] = [];
  #piecesLength = 0;
  #staging = Buffer.allocUnsafe(FLUSH_THRESHOLD);
  #stagingStart = 0;
  #stagingEnd = 0;
  #mustDrain = false;
  #error: Error | undefined;
  #bytesWritten = 0;

  constructor(out: NodeJS.WritableStream, opts: { littleEndian?: boolean } = {}) {
    this.#out = out;
    this.littleEndian = opts.littleEndian ?? os.endianness() === 'LE';
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
    const length = 28 + encodedOptionsLength(options) + 4;
    const { buf, pos } = this.#reserve(length, BlockType.SECTION_HEADER);
    this.#u32(buf, pos + 8, 0x1a2b3c4d);
    this.#u16(buf, pos + 12, 1);
    this.#u16(buf, pos + 14, 0);
    buf.writeBigInt64LE(-1n, pos + 16); // section length unknown: -1 reads the same in both byte orders
    encodeOptions(buf, pos + 24, options, this.littleEndian);
  }

  /** Writes an IDB; its interface id is its index in the section, which the caller keeps track of. */
  writeInterface(desc: InterfaceDescription): void {
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
    const options = p.comments || p.options ? [...(p.options ?? []), ...(p.comments ?? []).map((c) => textOption(OptionCode.COMMENT, c))] : [];
    const padded = pad4(p.data.length);
    const length = 28 + padded + encodedOptionsLength(options) + 4;
    const { buf, pos } = this.#reserve(length, BlockType.ENHANCED_PACKET);
    this.#u32(buf, pos + 8, p.interfaceId);
    this.#u32(buf, pos + 12, Number(p.timestampUnits >> 32n));
    this.#u32(buf, pos + 16, Number(p.timestampUnits & 0xffffffffn));
    this.#u32(buf, pos + 20, p.data.length);
    this.#u32(buf, pos + 24, p.originalLength ?? p.data.length);
    buf.set(p.data, pos + 28);
    buf.fill(0, pos + 28 + p.data.length, pos + 28 + padded);
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

  /** A complete block in this writer's byte order, written as is (a view: it must not change before drain()). */
  writeRaw(block: Uint8Array): void {
    this.#takeStaging();
    const last = this.#pieces[this.#pieces.length - 1];
    if (last && last.buffer === block.buffer && last.byteOffset + last.byteLength === block.byteOffset) {
      this.#pieces[this.#pieces.length - 1] = new Uint8Array(last.buffer, last.byteOffset, last.byteLength + block.byteLength);
    } else {
      this.#pieces.push(block);
    }
    this.#piecesLength += block.byteLength;
    this.#bytesWritten += block.byteLength;
    if (this.#piecesLength >= FLUSH_THRESHOLD) this.#flush();
  }

  /** Hands what is gathered to the stream and waits if the stream asked to (backpressure). */
  async drain(): Promise<void> {
    this.#flush();
    this.#throwIfFailed();
    if (!this.#mustDrain) return;
    this.#mustDrain = false;
    await this.#waitFor('drain');
  }

  /** Writes everything out and ends the stream; resolves once the stream has finished. */
  async end(): Promise<void> {
    this.#flush();
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
        reject(err);
      };
      this.#out.once(event, onEvent);
      this.#out.once('error', onError);
    });
  }

  #throwIfFailed(): void {
    if (this.#error) throw this.#error;
  }

  /** Room for one block in the staging buffer, with its type and both lengths already written. */
  #reserve(length: number, type: number): { buf: Buffer; pos: number } {
    if (this.#stagingEnd + length > this.#staging.length) {
      this.#takeStaging();
      if (this.#piecesLength >= FLUSH_THRESHOLD) this.#flush();
      this.#staging = Buffer.allocUnsafe(Math.max(FLUSH_THRESHOLD, length));
      this.#stagingStart = this.#stagingEnd = 0;
    }
    const buf = this.#staging;
    const pos = this.#stagingEnd;
    this.#u32(buf, pos, type);
    this.#u32(buf, pos + 4, length);
    this.#u32(buf, pos + length - 4, length);
    this.#stagingEnd += length;
    this.#bytesWritten += length;
    return { buf, pos };
  }

  /** Moves the filled part of the staging buffer to the pieces to write (the rest stays for later blocks). */
  #takeStaging(): void {
    if (this.#stagingEnd === this.#stagingStart) return;
    this.#pieces.push(this.#staging.subarray(this.#stagingStart, this.#stagingEnd));
    this.#piecesLength += this.#stagingEnd - this.#stagingStart;
    this.#stagingStart = this.#stagingEnd;
  }

  #flush(): void {
    this.#takeStaging();
    if (this.#pieces.length === 0) return;
    for (const piece of this.#pieces) {
      if (!this.#out.write(piece)) this.#mustDrain = true;
    }
    this.#pieces = [];
    this.#piecesLength = 0;
  }

  #u32(buf: Buffer, pos: number, v: number): void {
    if (this.littleEndian) buf.writeUInt32LE(v, pos);
    else buf.writeUInt32BE(v, pos);
  }

  #u16(buf: Buffer, pos: number, v: number): void {
    if (this.littleEndian) buf.writeUInt16LE(v, pos);
    else buf.writeUInt16BE(v, pos);
  }
}

function textOption(code: number, text: string): PcapngOption {
  return { code, value: Buffer.from(text, 'utf8') };
}
