import { GokeylogError } from '../util/errors.js';
import type { FileReader } from './reader.js';

export const ET_DYN = 3;
export const EM_X86_64 = 62;
export const EM_AARCH64 = 183;
export const PT_LOAD = 1;
export const PT_DYNAMIC = 2;
export const PT_INTERP = 3;
export const PF_X = 1;
export const PF_W = 2;
export const SHT_SYMTAB = 2;
export const SHT_RELA = 4;
export const SHT_NOBITS = 8;
export const SHT_DYNSYM = 11;

const EHDR_SIZE = 64;
const PHDR_SIZE = 56;
const SHDR_SIZE = 64;
/** Headers claiming more entries than this are corrupt, not big. */
const MAX_HEADERS = 65535;

export interface ElfHeader {
  type: number;
  machine: number;
  entry: number;
  phoff: number;
  shoff: number;
  phentsize: number;
  phnum: number;
  shentsize: number;
  shnum: number;
  shstrndx: number;
}

export interface ProgramHeader {
  type: number;
  flags: number;
  offset: number;
  vaddr: number;
  filesz: number;
  memsz: number;
}

export interface Section {
  name: string;
  type: number;
  flags: number;
  addr: number;
  offset: number;
  size: number;
  link: number;
  entsize: number;
}

export interface ElfFile {
  reader: FileReader;
  header: ElfHeader;
  segments: ProgramHeader[];
  /** Empty when the section headers were removed (e_shoff/e_shnum zeroed). */
  sections: Section[];
}

const MACHINE_NAMES: Record<number, string> = { 3: 'x86 (i386)', 8: 'MIPS', 20: 'PowerPC', 21: 'PowerPC64', 22: 'S/390', 40: 'ARM (32-bit)', 243: 'RISC-V', 258: 'LoongArch' };

/** A 64-bit unsigned field as a number; values past 2^53 cannot be file offsets or user-space addresses we handle. */
function u64(buf: Buffer, offset: number, what: string, path: string): number {
  const value = buf.readBigUInt64LE(offset);
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new GokeylogError(`${path} is corrupt: its ${what} (0x${value.toString(16)}) is out of range.`, 'GOKEYLOG_ERR_UNSUPPORTED_BINARY');
  }
  return Number(value);
}

/** Parses and checks the 64-byte ELF header: only little-endian ELF64 for x86-64 or AArch64 is accepted. */
export function parseElfHeader(buf: Buffer, path: string): ElfHeader {
  if (buf.length < 16 || buf[0] !== 0x7f || buf[1] !== 0x45 || buf[2] !== 0x4c || buf[3] !== 0x46) {
    throw new GokeylogError(`${path} is not an ELF file.`, 'GOKEYLOG_ERR_UNSUPPORTED_BINARY');
  }
  if (buf[4] === 1) {
    throw new GokeylogError(`${path} is a 32-bit ELF file; only 64-bit x86-64 and AArch64 binaries are supported.`, 'GOKEYLOG_ERR_UNSUPPORTED_BINARY');
  }
  if (buf[4] !== 2) throw new GokeylogError(`${path} is an ELF file of unknown class ${buf[4]}.`, 'GOKEYLOG_ERR_UNSUPPORTED_BINARY');
  if (buf[5] === 2) {
    throw new GokeylogError(`${path} is a big-endian ELF file; only little-endian x86-64 and AArch64 binaries are supported.`, 'GOKEYLOG_ERR_UNSUPPORTED_BINARY');
  }
  if (buf[5] !== 1) throw new GokeylogError(`${path} is an ELF file of unknown byte order ${buf[5]}.`, 'GOKEYLOG_ERR_UNSUPPORTED_BINARY');
  if (buf.length < EHDR_SIZE) throw new GokeylogError(`${path} is truncated: its ELF header is incomplete.`, 'GOKEYLOG_ERR_UNSUPPORTED_BINARY');
  const machine = buf.readUInt16LE(18);
  if (machine !== EM_X86_64 && machine !== EM_AARCH64) {
    const name = MACHINE_NAMES[machine] ?? `machine ${machine}`;
    throw new GokeylogError(`${path} is built for ${name}; only x86-64 and AArch64 are supported.`, 'GOKEYLOG_ERR_UNSUPPORTED_BINARY');
  }
  return {
    type: buf.readUInt16LE(16),
    machine,
    entry: u64(buf, 24, 'entry point', path),
    phoff: u64(buf, 32, 'program header offset', path),
    shoff: u64(buf, 40, 'section header offset', path),
    phentsize: buf.readUInt16LE(54),
    phnum: buf.readUInt16LE(56),
    shentsize: buf.readUInt16LE(58),
    shnum: buf.readUInt16LE(60),
    shstrndx: buf.readUInt16LE(62),
  };
}

export function parseProgramHeader(buf: Buffer, offset: number, path: string): ProgramHeader {
  return {
    type: buf.readUInt32LE(offset),
    flags: buf.readUInt32LE(offset + 4),
    offset: u64(buf, offset + 8, 'segment offset', path),
    vaddr: u64(buf, offset + 16, 'segment address', path),
    filesz: u64(buf, offset + 32, 'segment size', path),
    memsz: u64(buf, offset + 40, 'segment size', path),
  };
}

/** Reads the ELF header, program headers and section headers (names included). */
export async function readElf(reader: FileReader): Promise<ElfFile> {
  const path = reader.path;
  const header = parseElfHeader(await reader.read(0, Math.min(EHDR_SIZE, reader.size)), path);
  if (header.phnum > 0 && header.phentsize < PHDR_SIZE) {
    throw new GokeylogError(`${path} is corrupt: its program header entry size is ${header.phentsize}.`, 'GOKEYLOG_ERR_UNSUPPORTED_BINARY');
  }
  const phBytes = await reader.read(header.phoff, header.phnum * header.phentsize);
  const segments: ProgramHeader[] = [];
  for (let i = 0; i < header.phnum; i++) segments.push(parseProgramHeader(phBytes, i * header.phentsize, path));
  // A binary cut short cannot be loaded, even when the part we would read survived.
  const end = Math.max(0, ...segments.filter((p) => p.type === PT_LOAD).map((p) => p.offset + p.filesz));
  if (end > reader.size) {
    throw new GokeylogError(`${path} is truncated: it has ${reader.size} bytes but its segments need ${end}.`, 'GOKEYLOG_ERR_UNSUPPORTED_BINARY');
  }
  return { reader, header, segments, sections: await readSections(reader, header) };
}

async function readSections(reader: FileReader, header: ElfHeader): Promise<Section[]> {
  const path = reader.path;
  if (header.shoff === 0) return [];
  if (header.shentsize < SHDR_SIZE) {
    throw new GokeylogError(`${path} is corrupt: its section header entry size is ${header.shentsize}.`, 'GOKEYLOG_ERR_UNSUPPORTED_BINARY');
  }
  let count = header.shnum;
  let strndx = header.shstrndx;
  if (count === 0 || strndx === 0xffff) {
    // Extended numbering: the real values live in section 0.
    const first = await reader.read(header.shoff, SHDR_SIZE);
    if (count === 0) count = u64(first, 32, 'section count', path);
    if (strndx === 0xffff) strndx = first.readUInt32LE(40);
  }
  if (count === 0) return [];
  if (count > MAX_HEADERS) throw new GokeylogError(`${path} is corrupt: it claims ${count} sections.`, 'GOKEYLOG_ERR_UNSUPPORTED_BINARY');
  const raw = await reader.read(header.shoff, count * header.shentsize);
  const entries = [];
  for (let i = 0; i < count; i++) {
    const o = i * header.shentsize;
    entries.push({
      nameOffset: raw.readUInt32LE(o),
      type: raw.readUInt32LE(o + 4),
      flags: u64(raw, o + 8, 'section flags', path),
      addr: u64(raw, o + 16, 'section address', path),
      offset: u64(raw, o + 24, 'section offset', path),
      size: u64(raw, o + 32, 'section size', path),
      link: raw.readUInt32LE(o + 40),
      entsize: u64(raw, o + 56, 'section entry size', path),
    });
  }
  const strtab = entries[strndx];
  const names = strtab && strtab.type !== SHT_NOBITS ? await reader.read(strtab.offset, strtab.size) : Buffer.alloc(0);
  return entries.map(({ nameOffset, ...rest }) => ({ name: cString(names, nameOffset), ...rest }));
}

/** The NUL-terminated string at `offset` ('' when out of range). */
export function cString(buf: Buffer, offset: number): string {
  if (offset < 0 || offset >= buf.length) return '';
  const end = buf.indexOf(0, offset);
  return buf.toString('latin1', offset, end < 0 ? buf.length : end);
}

export function sectionByName(elf: ElfFile, name: string): Section | undefined {
  return elf.sections.find((s) => s.name === name);
}

/** The PT_LOAD segment whose file image holds `vaddr` (not its zero-filled tail). */
export function segmentForVaddr(elf: ElfFile, vaddr: number): ProgramHeader | undefined {
  return elf.segments.find((p) => p.type === PT_LOAD && vaddr >= p.vaddr && vaddr < p.vaddr + p.filesz);
}

/** The file offset that the kernel maps at `vaddr`: vaddr − p_vaddr + p_offset of its PT_LOAD. */
export function vaddrToFileOffset(elf: ElfFile, vaddr: number): number | undefined {
  const segment = segmentForVaddr(elf, vaddr);
  return segment ? vaddr - segment.vaddr + segment.offset : undefined;
}

/** `length` bytes of the file image at virtual address `vaddr`; a GokeylogError when they are not all in one PT_LOAD. */
export async function readVaddr(elf: ElfFile, vaddr: number, length: number): Promise<Buffer> {
  const segment = segmentForVaddr(elf, vaddr);
  if (!segment || vaddr + length > segment.vaddr + segment.filesz) {
    throw new GokeylogError(
      `${elf.reader.path} is corrupt: address 0x${vaddr.toString(16)} (+${length} bytes) is not in its file image.`,
      'GOKEYLOG_ERR_UNSUPPORTED_BINARY',
    );
  }
  return elf.reader.read(vaddr - segment.vaddr + segment.offset, length);
}

export async function readSection(elf: ElfFile, section: Section): Promise<Buffer> {
  if (section.type === SHT_NOBITS) return Buffer.alloc(0);
  return elf.reader.read(section.offset, section.size);
}
