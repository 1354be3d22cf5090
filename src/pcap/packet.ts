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
  readonly interface: InterfaceBlock;
  readonly #ts1: number;
  readonly #ts2: number;
  readonly #optionsStart: number;
  readonly #littleEndian: boolean;

  /** Positional, not an options object: one of these is made per packet, so nothing else should be. */
  constructor(
    readonly blockType: number,
    readonly offset: number,
    iface: InterfaceBlock,
    readonly buffer: Buffer,
    readonly rawOffset: number,
    readonly rawLength: number,
    readonly dataOffset: number,
    readonly capturedLength: number,
    readonly originalLength: number,
    /** pcapng: the high and low 32 bits of the timestamp; pcap: seconds and fraction. */
    ts1: number,
    ts2: number,
    optionsStart: number,
    littleEndian: boolean,
  ) {
    this.#ts1 = ts1;
    this.#ts2 = ts2;
    this.#optionsStart = optionsStart;
    this.#littleEndian = littleEndian;
    this.interface = iface;
    this.interfaceId = iface.interfaceId;
    this.linkType = iface.linkType;
  }

  get data(): Uint8Array {
    return this.buffer.subarray(this.dataOffset, this.dataOffset + this.capturedLength);
  }

  get raw(): Uint8Array {
    return this.buffer.subarray(this.rawOffset, this.rawOffset + this.rawLength);
  }

  get tsResolution(): TimestampResolution {
    return this.interface.tsResolution;
  }

  get timestampUnits(): bigint {
    return (BigInt(this.timestampHigh) << 32n) | BigInt(this.timestampLow);
  }

  get timestampHigh(): number {
    return this.interface.format === 'pcap' ? pcapUnits(this.#ts1, this.#ts2, this.interface.tsResolution.exponent, 'high') : this.#ts1;
  }

  get timestampLow(): number {
    return this.interface.format === 'pcap' ? pcapUnits(this.#ts1, this.#ts2, this.interface.tsResolution.exponent, 'low') : this.#ts2;
  }

  get timestamp(): bigint {
    const iface = this.interface;
    const res = iface.tsResolution;
    // Per packet this is the common case: whole seconds (one BigInt per second of capture) plus the fraction.
    if (res.base === 10 && res.exponent <= 9) {
      if (iface.format === 'pcap') return wholeSecondsNs(this.#ts1, iface.tsOffsetSeconds) + BigInt(this.#ts2 * POW10[9 - res.exponent]!);
      if (this.#ts1 < TWO_21) {
        // units < 2^53 (microseconds until the year 2255): exact in a double.
        const units = this.#ts1 * TWO_32 + this.#ts2;
        const unit = POW10[res.exponent]!;
        let seconds = Math.floor(units / unit);
        let fraction = units - seconds * unit;
        if (fraction < 0) (seconds -= 1), (fraction += unit); // the quotient rounded up to a whole number
        return wholeSecondsNs(seconds, iface.tsOffsetSeconds) + BigInt(fraction * POW10[9 - res.exponent]!);
      }
    }
    return unitsToNanoseconds(this.timestampUnits, res) + iface.tsOffsetSeconds * NS_PER_SECOND;
  }

  get options(): PcapngOption[] {
    const optionsEnd = this.rawOffset + this.rawLength - 4;
    if (this.interface.format === 'pcap' || this.#optionsStart >= optionsEnd) return [];
    return parseOptions(this.buffer, this.#optionsStart, optionsEnd, this.#littleEndian);
  }

  get comments(): string[] | undefined {
    return commentsOf(this.options);
  }
}

/*
 * A pcap timestamp (seconds, fraction in 10^-k s) as pcapng's two 32-bit halves of seconds·10^k + fraction,
 * in exact double arithmetic (no BigInt per packet): 10^k = 5^k·2^k, and seconds·5^k < 2^53 for k ≤ 9.
 */
const TWO_32 = 2 ** 32;

const TWO_21 = 2 ** 21;
const POW10 = Array.from({ length: 10 }, (_, k) => 10 ** k);
const POW10_BIG = POW10.map(BigInt);

/** The last whole second converted, as packets come in time order: one BigInt per second, not per packet. */
let cachedSeconds = -1;
let cachedOffset = 0n;
let cachedSecondsNs = 0n;

function wholeSecondsNs(seconds: number, offsetSeconds: bigint): bigint {
  if (seconds !== cachedSeconds || offsetSeconds !== cachedOffset) {
    cachedSeconds = seconds;
    cachedOffset = offsetSeconds;
    cachedSecondsNs = (BigInt(seconds) + offsetSeconds) * NS_PER_SECOND;
  }
  return cachedSecondsNs;
}

const POW5 = Array.from({ length: 10 }, (_, k) => 5 ** k);
const POW2 = Array.from({ length: 10 }, (_, k) => 2 ** k);

function pcapUnits(seconds: number, fraction: number, k: number, half: 'high' | 'low'): number {
  const a = seconds * POW5[k]!;
  const aHigh = Math.floor(a / TWO_32);
  const low = (a - aHigh * TWO_32) * POW2[k]! + fraction;
  return half === 'high' ? aHigh * POW2[k]! + Math.floor(low / TWO_32) : low % TWO_32;
}

export function unitsToNanoseconds(units: bigint, res: TimestampResolution): bigint {
  if (res.base === 2) return (units * NS_PER_SECOND) >> BigInt(res.exponent);
  if (res.exponent <= 9) return units * POW10_BIG[9 - res.exponent]!;
  return units / 10n ** BigInt(res.exponent - 9);
}
