export type GoArch = 'amd64' | 'arm64';
export type GoAbi = 'register' | 'stack';
export type PclntabFormat = '1.2' | '1.16' | '1.18' | '1.20';

/** The Go releases that write each pclntab format (by minor version of Go 1.x). */
export const PCLNTAB_FORMATS: Record<PclntabFormat, { magic: number; firstMinor: number; lastMinor: number | undefined }> = {
  '1.2': { magic: 0xfffffffb, firstMinor: 2, lastMinor: 15 },
  '1.16': { magic: 0xfffffffa, firstMinor: 16, lastMinor: 17 },
  '1.18': { magic: 0xfffffff0, firstMinor: 18, lastMinor: 19 },
  '1.20': { magic: 0xfffffff1, firstMinor: 20, lastMinor: undefined },
};

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
