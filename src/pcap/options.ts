import type { PcapngOption } from './blocks.js';

export const OptionCode = {
  END_OF_OPTIONS: 0,
  COMMENT: 1,
  SHB_USERAPPL: 4,
  IF_NAME: 2,
  IF_TSRESOL: 9,
  IF_TSOFFSET: 14,
} as const;

/**
 * The options in buf[start, end). A malformed option list (a length running past the block) ends the list:
 * options are optional, the block itself stays usable.
 */
export function parseOptions(buf: Buffer, start: number, end: number, littleEndian: boolean): PcapngOption[] {
  const options: PcapngOption[] = [];
  let pos = start;
  while (pos + 4 <= end) {
    const code = littleEndian ? buf.readUInt16LE(pos) : buf.readUInt16BE(pos);
    const length = littleEndian ? buf.readUInt16LE(pos + 2) : buf.readUInt16BE(pos + 2);
    if (code === OptionCode.END_OF_OPTIONS) break;
    const valueEnd = pos + 4 + length;
    if (valueEnd > end) break;
    options.push({ code, value: buf.subarray(pos + 4, valueEnd) });
    pos = pos + 4 + pad4(length);
  }
  return options;
}

export function commentsOf(options: PcapngOption[]): string[] | undefined {
  const comments = options.filter((o) => o.code === OptionCode.COMMENT).map((o) => Buffer.from(o.value).toString('utf8'));
  return comments.length > 0 ? comments : undefined;
}

export function pad4(n: number): number {
  return (n + 3) & ~3;
}

/** Encoded size of an option list including opt_endofopt, or 0 for no options. */
export function encodedOptionsLength(options: readonly PcapngOption[]): number {
  if (options.length === 0) return 0;
  let n = 4;
  for (const o of options) n += 4 + pad4(o.value.length);
  return n;
}

/** Writes an option list (with opt_endofopt) at buf[pos]; returns the position after it. */
export function encodeOptions(buf: Buffer, pos: number, options: readonly PcapngOption[], littleEndian: boolean): number {
  if (options.length === 0) return pos;
  for (const o of options) {
    writeU16(buf, pos, o.code, littleEndian);
    writeU16(buf, pos + 2, o.value.length, littleEndian);
    buf.set(o.value, pos + 4);
    const padded = pad4(o.value.length);
    buf.fill(0, pos + 4 + o.value.length, pos + 4 + padded);
    pos += 4 + padded;
  }
  buf.writeUInt32LE(0, pos); // opt_endofopt: code 0, length 0 in any byte order
  return pos + 4;
}

function writeU16(buf: Buffer, pos: number, v: number, littleEndian: boolean): void {
  if (littleEndian) buf.writeUInt16LE(v, pos);
  else buf.writeUInt16BE(v, pos);
}
