import { GokeylogError } from '../util/errors.js';
import { BlockType, type CaptureBlock, type InterfaceBlock, type TimestampResolution } from './blocks.js';
import { OptionCode, pad4, parseOptions } from './options.js';
import { PacketRecord } from './packet.js';

/** No block or record may claim more than this: a corrupt length must not become a huge allocation. */
export const MAX_BLOCK_LENGTH = 256 * 1024 * 1024;

const PCAP_MAGIC_US = 0xa1b2c3d4;
const PCAP_MAGIC_NS = 0xa1b23c4d;
const PCAP_MAGIC_MODIFIED = 0xa1b2cd34;
const PCAPNG_BYTE_ORDER_MAGIC = 0x1a2b3c4d;
const PCAP_HEADER_LENGTH = 24;
const PCAP_RECORD_HEADER_LENGTH = 16;
const BLOCK_MIN_LENGTH = 12;
const SHB_MIN_LENGTH = 28;
const IDB_MIN_LENGTH = 20;
const EPB_MIN_LENGTH = 32;
const SPB_MIN_LENGTH = 16;
const DSB_MIN_LENGTH = 20;
/** Block types we know and pass through uninterpreted (NRB, ISB, systemd journal, custom): no warning for these. */
const KNOWN_OTHER_TYPES = new Set<number>([BlockType.NAME_RESOLUTION, BlockType.INTERFACE_STATISTICS, 0x00000009, 0x00000bad, 0x40000bad]);
const DEFAULT_TS_RESOLUTION: TimestampResolution = { base: 10, exponent: 6 };

export interface ParserOptions {
  /** Names the input in error messages. */
  sourceName: string;
  /** Known total size, to reject impossible lengths before waiting for (or allocating) their bytes. */
  fileSize?: number;
  onWarning?: (message: string) => void;
}

/** Where parsing stopped: the first incomplete block starts at `pos` and needs `need` bytes in all. */
export interface ParseProgress {
  pos: number;
  need: number;
}

type Emit = (b: CaptureBlock) => void;

/**
 * An incremental pcap/pcapng parser: fed consecutive buffers, it emits every complete block and says where the
 * first incomplete one starts. It keeps only per-section state (byte order, interfaces), never packet bytes.
 */
export class CaptureParser {
  readonly #opts: ParserOptions;
  #format: 'pcap' | 'pcapng' | undefined;
  #littleEndian = true;
  #interfaces: InterfaceBlock[] = [];
  readonly #warnedTypes = new Set<number>();

  constructor(opts: ParserOptions) {
    this.#opts = opts;
  }

  /** What the input turned out to be, once its first bytes were parsed. */
  get format(): 'pcap' | 'pcapng' | undefined {
    return this.#format;
  }

  /** Parses the complete blocks in buf[pos, end); `bufOffset` is the input offset of buf[0]. */
  parse(buf: Buffer, pos: number, end: number, bufOffset: number, emit: Emit): ParseProgress {
    if (this.#format === undefined) {
      if (end - pos < 4) return { pos, need: 4 };
      if (buf.readUInt32LE(pos) === BlockType.SECTION_HEADER) this.#format = 'pcapng';
      else {
        if (end - pos < PCAP_HEADER_LENGTH) {
          this.#pcapMagic(buf, pos, bufOffset); // a foreign file fails on its magic, not on its length
          return { pos, need: PCAP_HEADER_LENGTH };
        }
        this.#pcapHeader(buf, pos, bufOffset, emit);
        pos += PCAP_HEADER_LENGTH;
      }
    }
    return this.#format === 'pcap' ? this.#pcapRecords(buf, pos, end, bufOffset, emit) : this.#pcapngBlocks(buf, pos, end, bufOffset, emit);
  }

  /** Called at the end of input with the progress of the last parse and how many bytes were left over. */
  finish(leftover: number, progress: ParseProgress, bufOffset: number): void {
    if (leftover === 0) {
      if (this.#format === undefined) throw this.#error('is empty');
      return;
    }
    // Past 4 bytes, parse() has accepted a pcap magic and waits for the rest of the file header.
    if (this.#format === undefined && leftover < 4) throw this.#error(`is too short to be a capture (${leftover} bytes)`);
    const unit = this.#format === undefined ? 'file header' : this.#format === 'pcap' ? 'record' : 'block';
    throw this.#error(`is truncated: the ${unit} at byte offset ${bufOffset + progress.pos} needs ${progress.need} bytes but only ${leftover} remain`);
  }

  #pcapMagic(buf: Buffer, pos: number, bufOffset: number): { nano: boolean; littleEndian: boolean } {
    const le = buf.readUInt32LE(pos);
    const be = buf.readUInt32BE(pos);
    if (le === PCAP_MAGIC_US || be === PCAP_MAGIC_US) return { nano: false, littleEndian: le === PCAP_MAGIC_US };
    if (le === PCAP_MAGIC_NS || be === PCAP_MAGIC_NS) return { nano: true, littleEndian: le === PCAP_MAGIC_NS };
    if (le === PCAP_MAGIC_MODIFIED || be === PCAP_MAGIC_MODIFIED) {
      throw this.#error('is a "modified pcap" (Kuznetzov) file, which is not supported: convert it with editcap -F pcap');
    }
    throw this.#error(`is not a pcap or pcapng file (magic 0x${be.toString(16).padStart(8, '0')} at byte offset ${bufOffset + pos})`);
  }

  #pcapHeader(buf: Buffer, pos: number, bufOffset: number, emit: Emit): void {
    const { nano, littleEndian } = this.#pcapMagic(buf, pos, bufOffset);
    this.#format = 'pcap';
    this.#littleEndian = littleEndian;
    const u16 = (o: number): number => (littleEndian ? buf.readUInt16LE(pos + o) : buf.readUInt16BE(pos + o));
    const u32 = (o: number): number => (littleEndian ? buf.readUInt32LE(pos + o) : buf.readUInt32BE(pos + o));
    const raw = buf.subarray(pos, pos + PCAP_HEADER_LENGTH);
    emit({ kind: 'section', format: 'pcap', offset: bufOffset + pos, littleEndian, majorVersion: u16(4), minorVersion: u16(6), options: [], raw });
    // The low 26 bits are the link type; the top bits may carry the FCS length.
    const iface: InterfaceBlock = {
      kind: 'interface', format: 'pcap', offset: bufOffset + pos, interfaceId: 0, linkType: u32(20) & 0x03ffffff, snapLength: u32(16),
      tsResolution: { base: 10, exponent: nano ? 9 : 6 }, tsOffsetSeconds: 0n, options: [],
    };
    this.#interfaces = [iface];
    emit(iface);
  }

  #pcapRecords(buf: Buffer, pos: number, end: number, bufOffset: number, emit: Emit): ParseProgress {
    const le = this.#littleEndian;
    const iface = this.#interfaces[0]!;
    while (end - pos >= PCAP_RECORD_HEADER_LENGTH) {
      const capturedLength = le ? buf.readUInt32LE(pos + 8) : buf.readUInt32BE(pos + 8);
      const length = PCAP_RECORD_HEADER_LENGTH + capturedLength;
      if (capturedLength > MAX_BLOCK_LENGTH) {
        throw this.#error(`is corrupt: the record at byte offset ${bufOffset + pos} claims ${capturedLength} captured bytes (more than ${MAX_BLOCK_LENGTH})`);
      }
      this.#checkFits(bufOffset + pos, length, 'record');
      if (end - pos < length) return { pos, need: length };
      const originalLength = le ? buf.readUInt32LE(pos + 12) : buf.readUInt32BE(pos + 12);
      const seconds = le ? buf.readUInt32LE(pos) : buf.readUInt32BE(pos);
      const fraction = le ? buf.readUInt32LE(pos + 4) : buf.readUInt32BE(pos + 4);
      emit(new PacketRecord(0, bufOffset + pos, iface, buf, pos, length, pos + PCAP_RECORD_HEADER_LENGTH, capturedLength, originalLength, seconds, fraction, pos + length, le));
      pos += length;
    }
    return { pos, need: PCAP_RECORD_HEADER_LENGTH };
  }

  #pcapngBlocks(buf: Buffer, pos: number, end: number, bufOffset: number, emit: Emit): ParseProgress {
    while (end - pos >= BLOCK_MIN_LENGTH) {
      const at = bufOffset + pos;
      let type = buf.readUInt32LE(pos);
      if (type === BlockType.SECTION_HEADER) {
        // A new section may switch byte order: its byte-order magic decides how to read its length.
        const bom = buf.readUInt32LE(pos + 8);
        if (bom === PCAPNG_BYTE_ORDER_MAGIC) this.#littleEndian = true;
        else if (bom === 0x4d3c2b1a) this.#littleEndian = false;
        else throw this.#error(`is corrupt: the section header at byte offset ${at} has no valid byte-order magic`);
      }
      const le = this.#littleEndian;
      if (!le) type = buf.readUInt32BE(pos);
      const length = le ? buf.readUInt32LE(pos + 4) : buf.readUInt32BE(pos + 4);
      if (length < BLOCK_MIN_LENGTH || length % 4 !== 0 || length > MAX_BLOCK_LENGTH) {
        throw this.#error(`is corrupt: the block at byte offset ${at} has length ${length} (must be a multiple of 4 from 12 to ${MAX_BLOCK_LENGTH})`);
      }
      this.#checkFits(at, length, 'block');
      if (end - pos < length) return { pos, need: length };
      const trailer = le ? buf.readUInt32LE(pos + length - 4) : buf.readUInt32BE(pos + length - 4);
      if (trailer !== length) {
        throw this.#error(`is corrupt: the block at byte offset ${at} has length ${length} but its trailing length says ${trailer}`);
      }
      this.#pcapngBlock(type, buf, pos, length, at, emit);
      pos += length;
    }
    return { pos, need: BLOCK_MIN_LENGTH };
  }

  #pcapngBlock(type: number, buf: Buffer, pos: number, length: number, at: number, emit: Emit): void {
    const le = this.#littleEndian;
    // Per packet, nothing is allocated here but the packet itself: no closures, no views.
    const end = pos + length - 4;
    switch (type) {
      case BlockType.SECTION_HEADER: {
        this.#requireLength(length, SHB_MIN_LENGTH, at, 'section header');
        const majorVersion = this.#u16(buf, pos + 12);
        if (majorVersion !== 1) throw this.#error(`has pcapng version ${majorVersion}.${this.#u16(buf, pos + 14)} at byte offset ${at}, only version 1 is supported`);
        this.#interfaces = [];
        emit({ kind: 'section', format: 'pcapng', offset: at, littleEndian: le, majorVersion, minorVersion: this.#u16(buf, pos + 14), options: parseOptions(buf, pos + 24, end, le), raw: buf.subarray(pos, pos + length) });
        return;
      }
      case BlockType.INTERFACE_DESCRIPTION: {
        this.#requireLength(length, IDB_MIN_LENGTH, at, 'interface description');
        const options = parseOptions(buf, pos + 16, end, le);
        const iface: InterfaceBlock = {
          kind: 'interface', format: 'pcapng', offset: at, interfaceId: this.#interfaces.length, linkType: this.#u16(buf, pos + 8), snapLength: this.#u32(buf, pos + 12),
          tsResolution: DEFAULT_TS_RESOLUTION, tsOffsetSeconds: 0n, options, raw: buf.subarray(pos, pos + length),
        };
        for (const o of options) {
          if (o.code === OptionCode.IF_TSRESOL && o.value.length >= 1) {
            const v = o.value[0]!;
            iface.tsResolution = v & 0x80 ? { base: 2, exponent: v & 0x7f } : { base: 10, exponent: v };
          } else if (o.code === OptionCode.IF_TSOFFSET && o.value.length >= 8) {
            const view = Buffer.from(o.value.buffer, o.value.byteOffset, 8);
            iface.tsOffsetSeconds = le ? view.readBigInt64LE(0) : view.readBigInt64BE(0);
          } else if (o.code === OptionCode.IF_NAME) {
            iface.name = Buffer.from(o.value).toString('utf8');
          }
        }
        this.#interfaces.push(iface);
        emit(iface);
        return;
      }
      case BlockType.ENHANCED_PACKET:
      case BlockType.PACKET: {
        this.#requireLength(length, EPB_MIN_LENGTH, at, type === BlockType.PACKET ? 'packet block' : 'enhanced packet block');
        const interfaceId = type === BlockType.PACKET ? this.#u16(buf, pos + 8) : this.#u32(buf, pos + 8);
        const capturedLength = this.#u32(buf, pos + 20);
        const dataOffset = pos + 28;
        if (dataOffset + capturedLength > end) {
          throw this.#error(`is corrupt: the packet at byte offset ${at} claims ${capturedLength} captured bytes but its block holds ${end - dataOffset}`);
        }
        const iface = this.#interfaceFor(interfaceId, at);
        emit(new PacketRecord(type, at, iface, buf, pos, length, dataOffset, capturedLength, this.#u32(buf, pos + 24), this.#u32(buf, pos + 12), this.#u32(buf, pos + 16), dataOffset + pad4(capturedLength), le));
        return;
      }
      case BlockType.SIMPLE_PACKET: {
        this.#requireLength(length, SPB_MIN_LENGTH, at, 'simple packet block');
        const iface = this.#interfaceFor(0, at);
        const originalLength = this.#u32(buf, pos + 8);
        // The captured length is implied: the original length, cut to the snap length and to the block.
        let capturedLength = Math.min(originalLength, end - (pos + 12));
        if (iface.snapLength > 0) capturedLength = Math.min(capturedLength, iface.snapLength);
        emit(new PacketRecord(type, at, iface, buf, pos, length, pos + 12, capturedLength, originalLength, 0, 0, end, le));
        return;
      }
      case BlockType.DECRYPTION_SECRETS: {
        this.#requireLength(length, DSB_MIN_LENGTH, at, 'decryption secrets block');
        const secretsLength = this.#u32(buf, pos + 12);
        if (pos + 16 + secretsLength > end) {
          throw this.#error(`is corrupt: the decryption secrets block at byte offset ${at} claims ${secretsLength} bytes of secrets but holds ${end - pos - 16}`);
        }
        emit({ kind: 'secrets', offset: at, secretsType: this.#u32(buf, pos + 8), data: buf.subarray(pos + 16, pos + 16 + secretsLength), raw: buf.subarray(pos, pos + length) });
        return;
      }
      default:
        if (!KNOWN_OTHER_TYPES.has(type) && !this.#warnedTypes.has(type)) {
          this.#warnedTypes.add(type);
          this.#opts.onWarning?.(`${this.#opts.sourceName}: passing through unknown pcapng block type 0x${type.toString(16).padStart(8, '0')} (first at byte offset ${at})`);
        }
        emit({ kind: 'other', offset: at, blockType: type, raw: buf.subarray(pos, pos + length) });
    }
  }

  #u32(buf: Buffer, at: number): number {
    return this.#littleEndian ? buf.readUInt32LE(at) : buf.readUInt32BE(at);
  }

  #u16(buf: Buffer, at: number): number {
    return this.#littleEndian ? buf.readUInt16LE(at) : buf.readUInt16BE(at);
  }

  #requireLength(length: number, min: number, at: number, what: string): void {
    if (length < min) throw this.#error(`is corrupt: the ${what} at byte offset ${at} is ${length} bytes, less than the minimum ${min}`);
  }

  #interfaceFor(interfaceId: number, at: number): InterfaceBlock {
    const iface = this.#interfaces[interfaceId];
    if (!iface) {
      throw this.#error(`is corrupt: the packet at byte offset ${at} refers to interface ${interfaceId}, but its section describes ${this.#interfaces.length}`);
    }
    return iface;
  }

  /** Rejects a length that runs past the end of a file of known size, before anything waits for its bytes. */
  #checkFits(at: number, length: number, unit: string): void {
    const size = this.#opts.fileSize;
    if (size !== undefined && at + length > size) {
      throw this.#error(`is truncated: the ${unit} at byte offset ${at} needs ${length} bytes but only ${size - at} remain`);
    }
  }

  #error(what: string): GokeylogError {
    return new GokeylogError(`${this.#opts.sourceName} ${what}.`, 'GOKEYLOG_ERR_BAD_CAPTURE');
  }
}
