import { ET_DYN, findSymbols, readVaddr, relativeRelocations, sectionByName, segmentForVaddr, PF_W, PT_LOAD, type ElfFile } from '../elf/index.js';
import type { Pclntab } from './pclntab.js';
import { pclntabFormat } from './version.js';

/** Where runtime.firstmoduledata was found. */
export type ModuleDataSource = '.go.module' | 'runtime.firstmoduledata' | 'scan';

export interface ModuleData {
  vaddr: number;
  source: ModuleDataSource;
  /** Start and end of Go text (moduledata.text/etext). */
  text: number;
  etext: number;
  minpc: number;
  /** Length of the moduledata.pclntable slice: the whole table before 1.16, from the functab on after. */
  pclntableLength: number;
}

const WORDS = 24;
const SCAN_CHUNK = 4 << 20;

/**
 * Word indexes of the fields we use, per pclntab format (runtime/symtab.go moduledata). Before 1.16 the struct
 * starts with the pclntable slice; from 1.16 with pcHeader and the funcnametab, cutab, filetab, pctab,
 * pclntable and ftab slices.
 */
function layout(pcln: Pclntab): { pclntable: number; ftab: number; minpc: number; text: number; etext: number } {
  return pclntabFormat(pcln.header.format).moduledata;
}

/** Reads the candidate's words, resolving zeroed PIE slots through RELATIVE relocations. */
async function readWords(elf: ElfFile, vaddr: number): Promise<number[] | undefined> {
  const segment = segmentForVaddr(elf, vaddr);
  if (!segment || vaddr + WORDS * 8 > segment.vaddr + segment.filesz) return undefined;
  const raw = await readVaddr(elf, vaddr, WORDS * 8);
  const relocations = elf.header.type === ET_DYN ? await relativeRelocations(elf) : undefined;
  const words: number[] = [];
  for (let i = 0; i < WORDS; i++) {
    const value = Number(raw.readBigUInt64LE(8 * i));
    words.push(value === 0 && relocations ? (relocations.get(vaddr + 8 * i) ?? 0) : value);
  }
  return words;
}

/** A moduledata at `vaddr` that points back at this pclntab, field by field; undefined otherwise. */
async function moduleDataAt(elf: ElfFile, pcln: Pclntab, vaddr: number, source: ModuleDataSource): Promise<ModuleData | undefined> {
  const words = await readWords(elf, vaddr);
  if (!words) return undefined;
  const { header } = pcln;
  const fields = layout(pcln);
  const functab = pcln.vaddr + header.pclnOffset;
  const consistent =
    words[0] === pcln.vaddr &&
    words[fields.ftab] === functab &&
    words[fields.ftab + 1] === header.nfunc + 1 &&
    (!pclntabFormat(header.format).hasFuncnametab || (words[1] === pcln.vaddr + header.funcnameOffset && words[fields.pclntable] === functab));
  const text = words[fields.text]!;
  const etext = words[fields.etext]!;
  if (!consistent || text === 0 || etext < text) return undefined;
  return { vaddr, source, text, etext, minpc: words[fields.minpc]!, pclntableLength: words[fields.pclntable + 1]! };
}

/**
 * Finds runtime.firstmoduledata: the `.go.module` section (Go 1.26+), the symbol, or a scan of writable data
 * for a pointer to the pclntab (in a PIE, also the RELATIVE relocations whose addend is the pclntab).
 */
export async function findModuleData(elf: ElfFile, pcln: Pclntab): Promise<ModuleData | undefined> {
  const section = sectionByName(elf, '.go.module');
  if (section) {
    const found = await moduleDataAt(elf, pcln, section.addr, '.go.module');
    if (found) return found;
  }
  const symbol = (await findSymbols(elf, ['runtime.firstmoduledata'])).get('runtime.firstmoduledata');
  if (symbol) {
    const found = await moduleDataAt(elf, pcln, symbol.value, 'runtime.firstmoduledata');
    if (found) return found;
  }
  for (const candidate of await pointerSlots(elf, pcln.vaddr)) {
    const found = await moduleDataAt(elf, pcln, candidate, 'scan');
    if (found) return found;
  }
  return undefined;
}

/** Addresses in writable data holding the 8-byte value `target` (8-aligned), plus relocated slots with that addend. */
async function pointerSlots(elf: ElfFile, target: number): Promise<number[]> {
  const slots: number[] = [];
  const needle = Buffer.alloc(8);
  needle.writeBigUInt64LE(BigInt(target));
  const regions =
    elf.sections.length > 0
      ? elf.sections.filter((s) => ['.noptrdata', '.data', '.data.rel.ro', '.go.module'].includes(s.name)).map((s) => ({ vaddr: s.addr, size: s.size }))
      : elf.segments.filter((p) => p.type === PT_LOAD && (p.flags & PF_W) !== 0).map((p) => ({ vaddr: p.vaddr, size: p.filesz }));
  for (const region of regions) {
    for (let done = 0; done < region.size; done += SCAN_CHUNK) {
      const chunk = await readVaddr(elf, region.vaddr + done, Math.min(SCAN_CHUNK, region.size - done));
      for (let at = chunk.indexOf(needle); at >= 0; at = chunk.indexOf(needle, at + 1)) {
        if ((region.vaddr + done + at) % 8 === 0) slots.push(region.vaddr + done + at);
      }
    }
  }
  if (elf.header.type === ET_DYN) {
    for (const [slot, addend] of await relativeRelocations(elf)) if (addend === target) slots.push(slot);
  }
  return slots;
}
