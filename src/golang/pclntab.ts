import { ET_DYN, readVaddr, relativeRelocations, type ElfFile } from '../elf/index.js';
import { GokeylogError } from '../util/errors.js';
import { formatForMagic, pclntabFormat, type PclntabFormat } from './version.js';

/** Sanity bound: kube-apiserver has ~150k functions. */
const MAX_FUNCTIONS = 5_000_000;

export interface PclntabHeader {
  format: PclntabFormat;
  quantum: number;
  ptrSize: number;
  nfunc: number;
  /** Go 1.18+: base of the functab's entry offsets (0 from Go 1.26, or an unrelocated PIE slot). 0 before 1.18. */
  textStart: number;
  /** Offsets from the pclntab start. For the 1.2 format names are anywhere in the table: funcnameOffset is 0. */
  funcnameOffset: number;
  cuOffset: number;
  pclnOffset: number;
}

/** Where _func records (functab funcoff) and moduledata's pclntable slice start, from the pclntab start. */
export function funcDataOffset(header: PclntabHeader): number {
  return pclntabFormat(header.format).funcDataAtFunctab ? header.pclnOffset : 0;
}

export interface Pclntab {
  vaddr: number;
  header: PclntabHeader;
  /** Size in bytes when known (section size or moduledata), else undefined. */
  size: number | undefined;
}

/**
 * Parses a pclntab header (runtime.pcHeader; golang.org/s/go12symtab before 1.16). Returns undefined unless
 * magic, padding, instruction quantum, pointer size and table offsets are all plausible.
 */
export function parsePclntabHeader(buf: Buffer, quantum: number): PclntabHeader | undefined {
  if (buf.length < 16) return undefined;
  const format = formatForMagic(buf.readUInt32LE(0));
  if (!format || buf[4] !== 0 || buf[5] !== 0 || buf[6] !== quantum || buf[7] !== 8) return undefined;
  const facts = pclntabFormat(format);
  if (buf.length < facts.headerSize) return undefined;
  const word = (i: number): number => {
    const value = buf.readBigUInt64LE(8 + 8 * i);
    return value > BigInt(Number.MAX_SAFE_INTEGER) ? Number.NaN : Number(value);
  };
  const nfunc = word(0);
  if (!(nfunc > 0 && nfunc <= MAX_FUNCTIONS)) return undefined;
  const base = facts.offsetsWord;
  if (base === undefined) return { format, quantum, ptrSize: 8, nfunc, textStart: 0, funcnameOffset: 0, cuOffset: 0, pclnOffset: facts.headerSize };
  const offsets = [word(base), word(base + 1), word(base + 2), word(base + 3), word(base + 4)];
  let previous = facts.headerSize;
  for (const offset of offsets) {
    if (!(offset >= previous && offset < 2 ** 32)) return undefined;
    previous = offset;
  }
  return {
    format,
    quantum,
    ptrSize: 8,
    nfunc,
    textStart: facts.hasTextStart ? word(2) : 0,
    funcnameOffset: offsets[0]!,
    cuOffset: offsets[1]!,
    pclnOffset: offsets[4]!,
  };
}

/** functab: nfunc (entry, funcoff) pairs plus the end-of-text entry; 4-byte fields from Go 1.18, pointer-sized before. */
export interface Functab {
  /** Absolute entry address of function i; i = nfunc gives the end of Go text. */
  entry(i: number): number;
  funcoff(i: number): number;
  count: number;
}

/**
 * Reads the functab. `textStart` is the base of 1.18+ entry offsets; older formats store absolute entries
 * (which a PIE may keep only in RELATIVE relocations' addends).
 */
export async function readFunctab(elf: ElfFile, pcln: Pclntab, textStart: number): Promise<Functab> {
  const { nfunc, format, pclnOffset } = pcln.header;
  const size = pclntabFormat(format).entrySize;
  const start = pcln.vaddr + pclnOffset;
  const raw = await readVaddr(elf, start, (2 * nfunc + 1) * size);
  if (size === 4) {
    // A typed view: the functab of a big binary is walked whole (150k entries) on every lookup.
    const words = raw.byteOffset % 4 === 0 ? new Uint32Array(raw.buffer, raw.byteOffset, raw.length / 4) : new Uint32Array(Uint8Array.from(raw).buffer);
    return { count: nfunc, entry: (i) => textStart + words[2 * i]!, funcoff: (i) => words[2 * i + 1]! };
  }
  const relocations = elf.header.type === ET_DYN ? await relativeRelocations(elf) : undefined;
  return {
    count: nfunc,
    entry: (i) => {
      const value = Number(raw.readBigUInt64LE(16 * i));
      return value === 0 && relocations ? (relocations.get(start + 16 * i) ?? 0) : value;
    },
    funcoff: (i) => Number(raw.readBigUInt64LE(16 * i + 8)),
  };
}

/** Index of the function whose entry is exactly `address`, or undefined (binary search: entries are sorted). */
export function functionIndexAt(functab: Functab, address: number): number | undefined {
  let low = 0;
  let high = functab.count - 1;
  while (low <= high) {
    const mid = (low + high) >>> 1;
    const entry = functab.entry(mid);
    if (entry === address) return mid;
    if (entry < address) low = mid + 1;
    else high = mid - 1;
  }
  return undefined;
}

/**
 * The bytes that hold function names: funcnametab from Go 1.16; before, names are spread through the whole
 * table, so the whole table (whose size must then be known).
 */
export async function readFunctionNames(elf: ElfFile, pcln: Pclntab): Promise<Buffer> {
  const { format, funcnameOffset, cuOffset } = pcln.header;
  if (pclntabFormat(format).hasFuncnametab) return readVaddr(elf, pcln.vaddr + funcnameOffset, cuOffset - funcnameOffset);
  if (pcln.size === undefined) {
    throw new GokeylogError(`${elf.reader.path}: the size of its Go 1.2-format pclntab is unknown (no section and no moduledata).`, 'GOKEYLOG_ERR_UNSUPPORTED_BINARY');
  }
  return readVaddr(elf, pcln.vaddr, pcln.size);
}

/** Offsets in `names` where exactly `name` (NUL-terminated) starts. */
export function nameOffsets(names: Buffer, name: string): Set<number> {
  const needle = Buffer.from(`${name}\0`, 'latin1');
  const found = new Set<number>();
  for (let at = names.indexOf(needle); at >= 0; at = names.indexOf(needle, at + 1)) {
    if (at === 0 || names[at - 1] === 0) found.add(at);
  }
  return found;
}

/** Functions (by functab index) whose _func.nameoff is one of `offsets`. */
export async function functionsNamed(elf: ElfFile, pcln: Pclntab, functab: Functab, offsets: Set<number>): Promise<number[]> {
  if (offsets.size === 0) return [];
  const { format } = pcln.header;
  // _func starts with entry (uintptr before 1.18, uint32 after) then nameoff int32.
  const nameoffAt = pclntabFormat(format).entrySize;
  const base = pcln.vaddr + funcDataOffset(pcln.header);
  let maxFuncoff = 0;
  for (let i = 0; i < functab.count; i++) maxFuncoff = Math.max(maxFuncoff, functab.funcoff(i));
  const funcs = await readVaddr(elf, base, maxFuncoff + nameoffAt + 4);
  const ints = funcs.byteOffset % 4 === 0 ? new Int32Array(funcs.buffer, funcs.byteOffset, funcs.length >>> 2) : undefined;
  const matches: number[] = [];
  for (let i = 0; i < functab.count; i++) {
    const at = functab.funcoff(i) + nameoffAt;
    // _func records are 4-aligned in a sound table; a corrupt one still reads, just slower.
    const nameoff = ints && at % 4 === 0 ? ints[at >>> 2]! : funcs.readInt32LE(at);
    if (offsets.has(nameoff)) matches.push(i);
  }
  return matches;
}
