export type GoArch = 'amd64' | 'arm64';
export type GoAbi = 'register' | 'stack';
export type PclntabFormat = '1.2' | '1.16' | '1.18' | '1.20';

/** What one pclntab format is made of (runtime/symtab.go, debug/gosym's version-keyed reader). */
interface PclntabFormatFacts {
  magic: number;
  /** The Go releases that write it (minor versions of Go 1.x). */
  firstMinor: number;
  lastMinor: number | undefined;
  /** Bytes of the header (runtime.pcHeader from 1.16). */
  headerSize: number;
  /** Header word (after magic and the 4 small fields) where the table offsets start; undefined: none (1.2). */
  offsetsWord: number | undefined;
  /** The header holds textStart, the base of 4-byte functab entries (1.18+). */
  hasTextStart: boolean;
  /** Bytes of a functab entry and of _func.entry: uint32 offsets from 1.18, uintptr addresses before. */
  entrySize: 4 | 8;
  /** Names live in their own funcnametab (1.16+); before, anywhere in the one table. */
  hasFuncnametab: boolean;
  /** _func offsets (functab funcoff) and moduledata's pclntable count from the functab (1.16+), not the table start. */
  funcDataAtFunctab: boolean;
  /** Word indexes in moduledata of the fields we read (the struct changed at 1.16). */
  moduledata: { pclntable: number; ftab: number; minpc: number; text: number; etext: number };
}

const MODULEDATA_1_2 = { pclntable: 0, ftab: 3, minpc: 10, text: 12, etext: 13 };
const MODULEDATA_1_16 = { pclntable: 13, ftab: 16, minpc: 20, text: 22, etext: 23 };

/** Every pclntab format, oldest first: the one place its layout facts are written down. */
export const PCLNTAB_FORMATS: Record<PclntabFormat, PclntabFormatFacts> = {
  '1.2': { magic: 0xfffffffb, firstMinor: 2, lastMinor: 15, headerSize: 16, offsetsWord: undefined, hasTextStart: false, entrySize: 8, hasFuncnametab: false, funcDataAtFunctab: false, moduledata: MODULEDATA_1_2 },
  '1.16': { magic: 0xfffffffa, firstMinor: 16, lastMinor: 17, headerSize: 64, offsetsWord: 2, hasTextStart: false, entrySize: 8, hasFuncnametab: true, funcDataAtFunctab: true, moduledata: MODULEDATA_1_16 },
  '1.18': { magic: 0xfffffff0, firstMinor: 18, lastMinor: 19, headerSize: 72, offsetsWord: 3, hasTextStart: true, entrySize: 4, hasFuncnametab: true, funcDataAtFunctab: true, moduledata: MODULEDATA_1_16 },
  '1.20': { magic: 0xfffffff1, firstMinor: 20, lastMinor: undefined, headerSize: 72, offsetsWord: 3, hasTextStart: true, entrySize: 4, hasFuncnametab: true, funcDataAtFunctab: true, moduledata: MODULEDATA_1_16 },
};

/** The facts of one format, by name: `pclntabFormat(header.format).entrySize`. */
export const pclntabFormat = (format: PclntabFormat): Readonly<PclntabFormatFacts> => PCLNTAB_FORMATS[format];

/** The largest header of any format: what a scan must be able to read at a candidate. */
export const MAX_PCLNTAB_HEADER_SIZE = Math.max(...Object.values(PCLNTAB_FORMATS).map((f) => f.headerSize));

export function formatForMagic(magic: number): PclntabFormat | undefined {
  for (const [format, info] of Object.entries(PCLNTAB_FORMATS)) if (info.magic === magic) return format as PclntabFormat;
  return undefined;
}

/** The minor release of a Go version string as `go version` prints it ("go1.21.13" → 21, "go1.22rc1" → 22). */
export function goMinor(version: string): number | undefined {
  const match = /(?:^|\s)go1\.(\d+)/.exec(version);
  return match ? Number(match[1]) : undefined;
}

/** "go1.21.13" → "1.21": the release a signature set or an ABI rule is keyed on. */
export function goRelease(version: string): string | undefined {
  const minor = goMinor(version);
  return minor === undefined ? undefined : `1.${minor}`;
}

/** The range a pclntab format implies, as a version string for reports ("go1.18-go1.19", "go1.20+"). */
export function versionRangeOfFormat(format: PclntabFormat): string {
  const { firstMinor, lastMinor } = PCLNTAB_FORMATS[format];
  return lastMinor === undefined ? `go1.${firstMinor}+` : `go1.${firstMinor}-go1.${lastMinor}`;
}

/** Go's internal register ABI: amd64 from Go 1.17, arm64 from Go 1.18; ABI0 (stack) before. */
export function abiForMinor(arch: GoArch, minor: number): GoAbi {
  return minor >= (arch === 'amd64' ? 17 : 18) ? 'register' : 'stack';
}

/**
 * The ABI a pclntab format implies, when the exact version is unknown; undefined when the format spans the
 * switch (amd64 1.16–1.17), where only the code can tell.
 */
export function abiForFormat(arch: GoArch, format: PclntabFormat): GoAbi | undefined {
  const { firstMinor, lastMinor } = PCLNTAB_FORMATS[format];
  const first = abiForMinor(arch, firstMinor);
  return lastMinor === undefined || abiForMinor(arch, lastMinor) === first ? first : undefined;
}
