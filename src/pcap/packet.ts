import type { InterfaceBlock, PcapngOption, PacketBlock, TimestampResolution } from './blocks.js';
import { commentsOf, parseOptions } from './options.js';

const NS_PER_SECOND = 1_000_000_000n;

/**
 * A packet as a few numbers over the chunk it was read into: views, timestamps and options are only made
 * when asked for, so a reader that looks at a few fields of millions of packets pays for no more.
 */
export class PacketRecord implements PacketBlock {
  readonly kind = 'packet' as const;
  readonly interfaceId: number;
  readonly linkType: number;
  /** pcapng: the high and low 32 bits of the timestamp; pcap: seconds and fraction. */
  readonly #ts1: number;
  readonly #ts2: number;
  readonly #blockStart: number;
  readonly #blockLength: number;
  readonly #optionsStart: number;
  readonly #littleEndian: boolean;

  readonly interface: InterfaceBlock;
  readonly dataOffset: number;
  readonly capturedLength: number;
  readonly originalLength: number;

  constructor(
    readonly blockType: number,
    readonly offset: number,
    iface: InterfaceBlock,
    readonly buffer: Buffer,
    layout: { blockStart: number; blockLength: number; dataOffset: number; capturedLength: number; originalLength: number; optionsStart: number; ts1: number; ts2: number; littleEndian: boolean },
  ) {
    this.interface = iface;
    this.interfaceId = iface.interfaceId;
    this.linkType = iface.linkType;
    this.#blockStart = layout.blockStart;
    this.#blockLength = layout.blockLength;
    this.dataOffset = layout.dataOffset;
    this.capturedLength = layout.capturedLength;
    this.originalLength = layout.originalLength;
    this.#optionsStart = layout.optionsStart;
    this.#ts1 = layout.ts1;
    this.#ts2 = layout.ts2;
    this.#littleEndian = layout.littleEndian;
  }

  get data(): Uint8Array {
    return this.buffer.subarray(this.dataOffset, this.dataOffset + this.capturedLength);
  }

  get raw(): Uint8Array {
    return this.buffer.subarray(this.#blockStart, this.#blockStart + this.#blockLength);
  }

  get timestampUnits(): bigint {
    if (this.interface.format === 'pcap') return BigInt(this.#ts1) * unitsPerSecond(this.interface.tsResolution) + BigInt(this.#ts2);
    return (BigInt(this.#ts1) << 32n) | BigInt(this.#ts2);
  }

  get timestamp(): bigint {
    return unitsToNanoseconds(this.timestampUnits, this.interface.tsResolution) + this.interface.tsOffsetSeconds * NS_PER_SECOND;
  }

  get options(): PcapngOption[] {
    const optionsEnd = this.#blockStart + this.#blockLength - 4;
    if (this.interface.format === 'pcap' || this.#optionsStart >= optionsEnd) return [];
    return parseOptions(this.buffer, this.#optionsStart, optionsEnd, this.#littleEndian);
  }

  get comments(): string[] | undefined {
    return commentsOf(this.options);
  }
}

function unitsPerSecond(res: TimestampResolution): bigint {
  return BigInt(res.base) ** BigInt(res.exponent);
}

export function unitsToNanoseconds(units: bigint, res: TimestampResolution): bigint {
  if (res.base === 2) return (units * NS_PER_SECOND) >> BigInt(res.exponent);
  return res.exponent <= 9 ? units * 10n ** BigInt(9 - res.exponent) : units / 10n ** BigInt(res.exponent - 9);
}
