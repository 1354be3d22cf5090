import { findSymbols, readVaddr, sectionByName, PF_X, PT_LOAD, SHT_NOBITS, type ElfFile } from '../elf/index.js';
import { funcDataOffset, parsePclntabHeader, type Pclntab } from './pclntab.js';
import { MAX_PCLNTAB_HEADER_SIZE, pclntabFormat } from './version.js';

export type PclntabSource = 'section' | 'symbol' | 'scan';

const SCAN_CHUNK = 4 << 20;
/**
 * The most a scan reads, over all regions. Real pclntabs sit in the first tens of MiB of read-only data; a
 * planted binary with a 60 GiB sparse segment must be refused in a second, not read for minutes.
 */
const MAX_SCAN_BYTES = 256 << 20;
const SHF_ALLOC = 2;
const SHF_EXECINSTR = 4;

/** Parses the header at `vaddr` and checks that functab[0] and its _func agree on the first entry. */
async function pclntabAt(elf: ElfFile, vaddr: number, quantum: number, size: number | undefined): Promise<Pclntab | undefined> {
  const header = parsePclntabHeader(await readVaddr(elf, vaddr, 72).catch(() => Buffer.alloc(0)), quantum);
  if (!header) return undefined;
  const wide = pclntabFormat(header.format).entrySize === 8;
  try {
    const functab = await readVaddr(elf, vaddr + header.pclnOffset, 16);
    const entry = wide ? functab.readBigUInt64LE(0) : BigInt(functab.readUInt32LE(0));
    const funcoff = wide ? Number(functab.readBigUInt64LE(8)) : functab.readUInt32LE(4);
    const funcBase = vaddr + funcDataOffset(header);
    const func = await readVaddr(elf, funcBase + funcoff, 8);
    const funcEntry = wide ? func.readBigUInt64LE(0) : BigInt(func.readUInt32LE(0));
    // A PIE may leave both absolute entries zero in the file (kept in relocations): still consistent.
    if (funcEntry !== entry) return undefined;
  } catch {
    return undefined;
  }
  return { vaddr, header, size };
}

/**
 * Finds the pclntab: by section name (`.gopclntab`, or `.data.rel.ro.gopclntab` in an internally linked PIE),
 * by the runtime.pclntab symbol, else by scanning for a valid header (externally linked PIE: inside
 * `.data.rel.ro`; no section headers at all: every PT_LOAD).
 */
export async function findPclntab(elf: ElfFile, quantum: number): Promise<{ pcln: Pclntab; source: PclntabSource } | undefined> {
  for (const name of ['.gopclntab', '.data.rel.ro.gopclntab']) {
    const section = sectionByName(elf, name);
    if (!section || section.type === SHT_NOBITS) continue;
    const pcln = await pclntabAt(elf, section.addr, quantum, section.size);
    if (pcln) return { pcln, source: 'section' };
  }
  const symbols = await findSymbols(elf, ['runtime.pclntab', 'runtime.epclntab']);
  const start = symbols.get('runtime.pclntab');
  if (start) {
    const end = symbols.get('runtime.epclntab');
    const pcln = await pclntabAt(elf, start.value, quantum, end && end.value > start.value ? end.value - start.value : undefined);
    if (pcln) return { pcln, source: 'symbol' };
  }
  let budget = MAX_SCAN_BYTES;
  for (const region of scanRegions(elf)) {
    const size = Math.min(region.size, budget);
    const pcln = await scanRegion(elf, { vaddr: region.vaddr, size }, quantum);
    if (pcln) return { pcln, source: 'scan' };
    budget -= size;
    if (budget <= 0) break;
  }
  return undefined;
}

/** Read-only data first; executable segments last (old external links put .rodata in the text segment). */
function scanRegions(elf: ElfFile): { vaddr: number; size: number }[] {
  if (elf.sections.length > 0) {
    return elf.sections
      .filter((s) => (s.flags & SHF_ALLOC) !== 0 && (s.flags & SHF_EXECINSTR) === 0 && s.type !== SHT_NOBITS && s.size >= 64)
      .sort((a, b) => rank(a.name) - rank(b.name))
      .map((s) => ({ vaddr: s.addr, size: s.size }));
  }
  return elf.segments
    .filter((p) => p.type === PT_LOAD && p.filesz > 0)
    .sort((a, b) => (a.flags & PF_X) - (b.flags & PF_X))
    .map((p) => ({ vaddr: p.vaddr, size: p.filesz }));
}

const rank = (name: string): number => (name === '.data.rel.ro' ? 0 : name === '.rodata' ? 1 : 2);

async function scanRegion(elf: ElfFile, region: { vaddr: number; size: number }, quantum: number): Promise<Pclntab | undefined> {
  // Bytes 1..7 of every header: the magic's 0xffffff, two zero pads, the quantum, pointer size 8.
  const needle = Buffer.from([0xff, 0xff, 0xff, 0, 0, quantum, 8]);
  const overlap = MAX_PCLNTAB_HEADER_SIZE;
  for (let done = 0; done < region.size; done += SCAN_CHUNK - overlap) {
    const chunk = await readVaddr(elf, region.vaddr + done, Math.min(SCAN_CHUNK, region.size - done));
    for (let at = chunk.indexOf(needle, 1); at >= 0; at = chunk.indexOf(needle, at + 1)) {
      const vaddr = region.vaddr + done + at - 1;
      if (vaddr % 4 !== 0) continue;
      const pcln = await pclntabAt(elf, vaddr, quantum, undefined);
      if (pcln) return pcln;
    }
    if (done + SCAN_CHUNK >= region.size) break;
  }
  return undefined;
}
