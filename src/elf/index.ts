export * from './elf.js';
export { FileReader, withFile } from './reader.js';
export { findSymbols, hasSymtab, type ElfSymbol } from './symbols.js';
export { readPointer, relativeRelocations } from './relocations.js';
