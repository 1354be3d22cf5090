import { SHT_DYNSYM, SHT_SYMTAB, readSection, type ElfFile, type Section } from './elf.js';

const SYM_SIZE = 24;

export interface ElfSymbol {
  name: string;
  value: number;
  size: number;
  /** The table it came from: .symtab, or .dynsym (what a stripped PIE may still export). */
  table: 'symtab' | 'dynsym';
}

export const hasSymtab = (elf: ElfFile): boolean => elf.sections.some((s) => s.type === SHT_SYMTAB);

/**
 * Looks up the given names in .symtab (or .dynsym when there is no .symtab). Names are compared as bytes
 * against the string table, so only the wanted symbols are decoded.
 */
export async function findSymbols(elf: ElfFile, names: readonly string[]): Promise<Map<string, ElfSymbol>> {
  const found = new Map<string, ElfSymbol>();
  const table = elf.sections.find((s) => s.type === SHT_SYMTAB) ?? elf.sections.find((s) => s.type === SHT_DYNSYM);
  const strtab: Section | undefined = table ? elf.sections[table.link] : undefined;
  if (!table || !strtab || names.length === 0) return found;
  const strings = await readSection(elf, strtab);
  // Offsets in the string table of each wanted name (a name may be stored once and shared).
  const wanted = new Map<number, string>();
  for (const name of names) {
    const needle = Buffer.from(`${name}\0`, 'latin1');
    for (let at = strings.indexOf(needle); at >= 0; at = strings.indexOf(needle, at + 1)) {
      if (at === 0 || strings[at - 1] === 0) wanted.set(at, name);
    }
  }
  if (wanted.size === 0) return found;
  const symbols = await readSection(elf, table);
  for (let o = 0; o + SYM_SIZE <= symbols.length; o += SYM_SIZE) {
    const name = wanted.get(symbols.readUInt32LE(o));
    if (name === undefined || found.has(name)) continue;
    const value = Number(symbols.readBigUInt64LE(o + 8));
    if (value === 0) continue; // undefined symbol
    found.set(name, { name, value, size: Number(symbols.readBigUInt64LE(o + 16)), table: table.type === SHT_SYMTAB ? 'symtab' : 'dynsym' });
  }
  return found;
}
