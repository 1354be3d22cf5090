import { EM_AARCH64, ET_DYN, findSymbols, readPointer, sectionByName, type ElfFile } from '../elf/index.js';
import { GokeylogError } from '../util/errors.js';
import { findPclntab, type PclntabSource } from './findPclntab.js';
import { findModuleData, type ModuleData } from './moduledata.js';
import { funcDataOffset, functionIndexAt, functionsNamed, nameOffsets, readFunctab, readFunctionNames, type Functab, type Pclntab } from './pclntab.js';
import { pclntabFormat, type GoArch } from './version.js';

export type TextStartSource = 'pclntab' | 'moduledata' | 'functab';

/** A Go binary's function table, ready for lookups: the pclntab, its functab with absolute entries, and Go text. */
export interface GoBinary {
  elf: ElfFile;
  arch: GoArch;
  pcln: Pclntab;
  pclntabSource: PclntabSource;
  functab: Functab;
  textStart: number;
  textStartSource: TextStartSource;
  /** End of Go text (the functab's final entry). */
  textEnd: number;
  moduledata: ModuleData | undefined;
  functionNames(): Promise<Buffer>;
}

export const archOf = (elf: ElfFile): GoArch => (elf.header.machine === EM_AARCH64 ? 'arm64' : 'amd64');

/** Opens the Go side of an ELF file; undefined when there is no pclntab (not a Go binary). */
export async function openGoBinary(elf: ElfFile): Promise<GoBinary | undefined> {
  const arch = archOf(elf);
  const found = await findPclntab(elf, arch === 'amd64' ? 1 : 4);
  if (!found) return undefined;
  const { pcln } = found;
  const path = elf.reader.path;
  const format = pclntabFormat(pcln.header.format);
  const modern = format.hasTextStart;
  let textStart = modern ? pcln.header.textStart : 0;
  if (modern && textStart === 0 && elf.header.type === ET_DYN) {
    // An unrelocated PIE slot: the value lives in the relocation's addend.
    textStart = await readPointer(elf, pcln.vaddr + 24);
  }
  // moduledata is needed when the header cannot give the text start (Go 1.26+), to size an old table, and to
  // confirm a pclntab that was found by scanning rather than by name.
  const needModuledata = (modern && textStart === 0) || (!format.hasFuncnametab && pcln.size === undefined) || found.source === 'scan' || sectionByName(elf, '.go.module') !== undefined;
  const moduledata = needModuledata ? await findModuleData(elf, pcln) : undefined;
  if (found.source === 'scan' && !moduledata) {
    throw new GokeylogError(`${path}: found something like a Go pclntab at 0x${pcln.vaddr.toString(16)} but no moduledata confirms it.`, 'GOKEYLOG_ERR_UNSUPPORTED_BINARY');
  }
  if (moduledata && pcln.size === undefined) {
    pcln.size = funcDataOffset(pcln.header) + moduledata.pclntableLength;
  }
  let textStartSource: TextStartSource = 'pclntab';
  if (modern && textStart === 0) {
    if (!moduledata) throw new GokeylogError(`${path}: its pclntab has no text start and its moduledata was not found.`, 'GOKEYLOG_ERR_UNSUPPORTED_BINARY');
    textStart = moduledata.text;
    textStartSource = 'moduledata';
  }
  const functab = await readFunctab(elf, pcln, textStart);
  if (!modern) {
    textStart = moduledata?.text ?? functab.entry(0);
    textStartSource = moduledata ? 'moduledata' : 'functab';
  }
  if (moduledata && moduledata.minpc !== functab.entry(0)) {
    throw new GokeylogError(
      `${path}: its moduledata (minpc 0x${moduledata.minpc.toString(16)}) disagrees with its pclntab (first function at 0x${functab.entry(0).toString(16)}).`,
      'GOKEYLOG_ERR_UNSUPPORTED_BINARY',
    );
  }
  let names: Promise<Buffer> | undefined;
  return {
    elf,
    arch,
    pcln,
    pclntabSource: found.source,
    functab,
    textStart,
    textStartSource,
    textEnd: functab.entry(functab.count),
    moduledata,
    functionNames: () => (names ??= readFunctionNames(elf, pcln)),
  };
}

export type LookupMethod = 'symtab' | 'dynsym' | 'pclntab';

/** A function's entry by name: the ELF symbol table (.symtab, else .dynsym) when present, else the pclntab's names. */
export async function findFunction(binary: GoBinary, name: string): Promise<{ vaddr: number; method: LookupMethod } | undefined> {
  const symbol = (await findSymbols(binary.elf, [name])).get(name);
  if (symbol) return { vaddr: symbol.value, method: symbol.table };
  const indexes = await functionsNamed(binary.elf, binary.pcln, binary.functab, nameOffsets(await binary.functionNames(), name));
  const entries = [...new Set(indexes.map((i) => binary.functab.entry(i)))];
  if (entries.length > 1) {
    throw new GokeylogError(`${binary.elf.reader.path}: its pclntab names ${entries.length} functions ${name}.`, 'GOKEYLOG_ERR_WRITEKEYLOG_NOT_FOUND');
  }
  return entries.length === 1 ? { vaddr: entries[0]!, method: 'pclntab' } : undefined;
}

export const isFunctionEntry = (binary: GoBinary, vaddr: number): boolean => functionIndexAt(binary.functab, vaddr) !== undefined;

/** End of the function that starts at `vaddr` (the next function's entry), or undefined. */
export function functionEnd(binary: GoBinary, vaddr: number): number | undefined {
  const index = functionIndexAt(binary.functab, vaddr);
  return index === undefined ? undefined : binary.functab.entry(index + 1);
}
