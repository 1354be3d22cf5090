// readelf as the referee: what it prints about a binary, parsed without any of gokeylog's code.
import { spawnChecked } from '../support/traffic.js';

export interface ReadelfSegment {
  type: string;
  offset: number;
  vaddr: number;
  filesz: number;
  memsz: number;
  flags: string;
}

export interface ReadelfSection {
  name: string;
  type: string;
  addr: number;
  offset: number;
  size: number;
}

const hex = (text: string): number => parseInt(text, 16);

/** `readelf -lW`: "  LOAD  0x000000 0x0000000000400000 0x0000000000400000 0x1a2b3c 0x1a2b3c R E 0x1000". */
export async function readelfSegments(file: string): Promise<ReadelfSegment[]> {
  const { stdout } = await spawnChecked('readelf', ['-lW', file]);
  const segments: ReadelfSegment[] = [];
  for (const line of stdout.split('\n')) {
    const m = /^\s+([A-Z_]+|LOOS\+\w+)\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+0x[0-9a-f]+\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+([RWE ]+?)\s+0x[0-9a-f]+$/.exec(line);
    if (m) segments.push({ type: m[1]!, offset: hex(m[2]!), vaddr: hex(m[3]!), filesz: hex(m[4]!), memsz: hex(m[5]!), flags: m[6]!.replace(/\s/g, '') });
  }
  return segments;
}

/** `readelf -SW`: "  [15] .gopclntab  PROGBITS  0000000000c8c880 88c880 3a1b20 00  A  0   0 32". */
export async function readelfSections(file: string): Promise<ReadelfSection[]> {
  const { stdout } = await spawnChecked('readelf', ['-SW', file]);
  const sections: ReadelfSection[] = [];
  for (const line of stdout.split('\n')) {
    const m = /^\s+\[\s*\d+\]\s+(\S*)\s+(\S+)\s+([0-9a-f]{16})\s+([0-9a-f]+)\s+([0-9a-f]+)\s/.exec(line);
    if (m) sections.push({ name: m[1]!, type: m[2]!, addr: hex(m[3]!), offset: hex(m[4]!), size: hex(m[5]!) });
  }
  return sections;
}

/** `readelf -sW` value of a symbol, or undefined. */
export async function readelfSymbol(file: string, name: string): Promise<number | undefined> {
  const { stdout } = await spawnChecked('readelf', ['-sW', file]);
  for (const line of stdout.split('\n')) {
    const fields = line.trim().split(/\s+/);
    if (fields[7] === name) return hex(fields[1]!);
  }
  return undefined;
}

/** The file offset readelf's PT_LOAD table maps `vaddr` to. */
export function fileOffsetFromSegments(segments: ReadelfSegment[], vaddr: number): number | undefined {
  const load = segments.find((s) => s.type === 'LOAD' && vaddr >= s.vaddr && vaddr < s.vaddr + s.filesz);
  return load ? vaddr - load.vaddr + load.offset : undefined;
}

export interface ReadelfHeader {
  /** "EXEC", "DYN", … */
  type: string;
  /** "Advanced Micro Devices X86-64", "AArch64", … */
  machine: string;
}

/** `readelf -hW`: the "Type:" and "Machine:" lines of the ELF header. */
export async function readelfHeader(file: string): Promise<ReadelfHeader> {
  const { stdout } = await spawnChecked('readelf', ['-hW', file]);
  const field = (name: string): string => new RegExp(`^\\s*${name}:\\s*(.+)$`, 'm').exec(stdout)?.[1]?.trim() ?? '';
  return { type: field('Type').split(/\s+/)[0]!, machine: field('Machine') };
}
