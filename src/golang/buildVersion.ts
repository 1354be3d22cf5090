import { PF_W, PT_LOAD, relativeRelocations, type ElfFile } from '../elf/index.js';

/** Bytes read per step when scanning segments: bounded memory on any binary. */
const CHUNK = 8 << 20;
/** A version string as the linker writes runtime.buildVersion ("go1.26.5", "go1.22rc1", "go1.25.3 X:boringcrypto"). */
const VERSION = /^go1\.\d+(?:\.\d+|(?:rc|beta)\d+)?(?: X:[\w,]+)?/;
const MAX_VERSION = 64;

/**
 * runtime.buildVersion without symbols: a Go string header {ptr, len} in a writable segment pointing at a
 * version string in a read-only one. Candidates are every "go1.…" string in the read-only segments; the
 * header is found by its pointer (in PIE binaries, in the addend of the slot's R_*_RELATIVE relocation) and
 * its length. Only a unique version is an answer: several different ones (a program that embeds others'
 * version strings) give none.
 */
export async function findBuildVersion(elf: ElfFile): Promise<string | undefined> {
  const candidates = await versionStrings(elf);
  if (candidates.size === 0) return undefined;
  const found = new Set<string>();
  const consider = (pointer: number, length: number): void => {
    const text = candidates.get(pointer);
    // A header's length names exactly one string at that address: the whole match or one of its prefixes.
    if (text && length > 0 && length <= text.length && VERSION.exec(text.slice(0, length))?.[0].length === length) found.add(text.slice(0, length));
  };
  const relocations = await relativeRelocations(elf);
  for (const segment of elf.segments.filter((p) => p.type === PT_LOAD && (p.flags & PF_W) !== 0)) {
    for (let start = 0; start < segment.filesz; start += CHUNK) {
      const bytes = await elf.reader.read(segment.offset + start, Math.min(CHUNK + 16, segment.filesz - start));
      for (let o = 0; o + 16 <= bytes.length && o < CHUNK; o += 8) {
        const length = bytes.readBigUInt64LE(o + 8);
        if (length === 0n || length > BigInt(MAX_VERSION)) continue;
        const slot = segment.vaddr + start + o;
        const stored = Number(bytes.readBigUInt64LE(o));
        consider(stored !== 0 ? stored : relocations.get(slot) ?? 0, Number(length));
      }
    }
  }
  return found.size === 1 ? [...found][0] : undefined;
}

/** Address → the longest version-shaped text at every "go1." of the read-only segments. */
async function versionStrings(elf: ElfFile): Promise<Map<number, string>> {
  const result = new Map<number, string>();
  const needle = Buffer.from('go1.');
  for (const segment of elf.segments.filter((p) => p.type === PT_LOAD && (p.flags & PF_W) === 0)) {
    for (let start = 0; start < segment.filesz; start += CHUNK) {
      const bytes = await elf.reader.read(segment.offset + start, Math.min(CHUNK + MAX_VERSION, segment.filesz - start));
      for (let at = bytes.indexOf(needle); at >= 0 && at < CHUNK; at = bytes.indexOf(needle, at + 1)) {
        const m = VERSION.exec(bytes.toString('latin1', at, Math.min(bytes.length, at + MAX_VERSION)));
        if (m) result.set(segment.vaddr + start + at, m[0]);
      }
    }
  }
  return result;
}
