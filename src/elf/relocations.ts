import { EM_AARCH64, PT_DYNAMIC, SHT_RELA, readSection, readVaddr, vaddrToFileOffset, type ElfFile } from './elf.js';

const RELA_SIZE = 24;
const R_X86_64_RELATIVE = 8;
const R_AARCH64_RELATIVE = 1027;
const DT_NULL = 0;
const DT_RELA = 7;
const DT_RELASZ = 8;
/** Bound on .rela.dyn we are willing to decode (a PIE kubectl has a few MB). */
const MAX_RELA_BYTES = 256 * 1024 * 1024;

const cache = new WeakMap<ElfFile, Promise<Map<number, number>>>();

/**
 * In a PIE, pointers in data are R_*_RELATIVE relocations; some linkers (GNU ld on AArch64) leave the slot in
 * the file zero and keep the value only in the addend. Returns slot address → addend.
 */
export function relativeRelocations(elf: ElfFile): Promise<Map<number, number>> {
  let result = cache.get(elf);
  if (!result) {
    result = loadRelativeRelocations(elf);
    cache.set(elf, result);
  }
  return result;
}

async function loadRelativeRelocations(elf: ElfFile): Promise<Map<number, number>> {
  const relative = elf.header.machine === EM_AARCH64 ? R_AARCH64_RELATIVE : R_X86_64_RELATIVE;
  const tables: Buffer[] = [];
  const relaSections = elf.sections.filter((s) => s.type === SHT_RELA && s.entsize === RELA_SIZE);
  if (elf.sections.length > 0) {
    for (const section of relaSections) if (section.size <= MAX_RELA_BYTES) tables.push(await readSection(elf, section));
  } else {
    const table = await relaFromDynamic(elf);
    if (table) tables.push(table);
  }
  const map = new Map<number, number>();
  for (const table of tables) {
    for (let o = 0; o + RELA_SIZE <= table.length; o += RELA_SIZE) {
      if (table.readUInt32LE(o + 8) !== relative) continue;
      map.set(Number(table.readBigUInt64LE(o)), Number(table.readBigInt64LE(o + 16)));
    }
  }
  return map;
}

/** Without section headers, DT_RELA/DT_RELASZ in PT_DYNAMIC say where the relocations are. */
async function relaFromDynamic(elf: ElfFile): Promise<Buffer | undefined> {
  const dynamic = elf.segments.find((p) => p.type === PT_DYNAMIC);
  if (!dynamic || dynamic.filesz > 1 << 20) return undefined;
  const entries = await elf.reader.read(dynamic.offset, dynamic.filesz);
  let rela: number | undefined;
  let size: number | undefined;
  for (let o = 0; o + 16 <= entries.length; o += 16) {
    const tag = Number(entries.readBigInt64LE(o));
    if (tag === DT_NULL) break;
    if (tag === DT_RELA) rela = Number(entries.readBigUInt64LE(o + 8));
    if (tag === DT_RELASZ) size = Number(entries.readBigUInt64LE(o + 8));
  }
  if (rela === undefined || !size || size > MAX_RELA_BYTES || vaddrToFileOffset(elf, rela) === undefined) return undefined;
  return readVaddr(elf, rela, size);
}

/** The 64-bit pointer stored at `vaddr`, resolving a zeroed RELATIVE slot through its addend. */
export async function readPointer(elf: ElfFile, vaddr: number): Promise<number> {
  const value = Number((await readVaddr(elf, vaddr, 8)).readBigUInt64LE(0));
  if (value !== 0) return value;
  return (await relativeRelocations(elf)).get(vaddr) ?? 0;
}
