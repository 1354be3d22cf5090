import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { FileReader, PT_LOAD, findSymbols, readElf, vaddrToFileOffset, withFile } from '../../src/elf/index.js';
import { ExitCode, GokeylogError } from '../../src/util/errors.js';
import { requireOrSkip } from '../support/env.js';
import { loadFixtures, loadRealBinaries, notGoBinary } from '../support/fixtures.js';
import { seededRandom } from '../support/random.js';
import { fileOffsetFromSegments, readelfSections, readelfSegments, readelfSymbol } from '../support/readelf.js';

const scratch = mkdtempSync(path.join(os.tmpdir(), 'gokeylog-elf-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

/** One binary of each kind we have: every toolchain/arch/mode (unstripped), real binaries, a C program. */
function sampleBinaries(): string[] {
  const seen = new Set<string>();
  const fixtures = loadFixtures({ program: 'tlsserver' }).filter((f) => {
    const key = `${f.toolchain}/${f.arch}/${f.mode}/${f.stripped}`;
    return !seen.has(key) && seen.add(key);
  });
  const c = notGoBinary();
  return [...fixtures.map((f) => f.path), ...loadRealBinaries().map((b) => b.path), ...(c ? [c] : [])];
}

async function expectError(file: string, pattern: RegExp, code: number = ExitCode.unsupportedInput): Promise<void> {
  await assert.rejects(
    withFile(file, (reader) => readElf(reader)),
    (err: unknown) => err instanceof GokeylogError && pattern.test(err.message) && err.exitCode === code,
  );
}

describe('ELF parser against readelf', () => {
  it('reads the same program headers and sections as readelf on every sample binary', async (t) => {
    const files = sampleBinaries();
    if (!requireOrSkip(t, files.length > 0, 'no fixtures (run scripts/setup.sh)')) return;
    for (const file of files) {
      const expectedSegments = await readelfSegments(file);
      const expectedSections = await readelfSections(file);
      await withFile(file, async (reader) => {
        const elf = await readElf(reader);
        const loads = elf.segments.filter((p) => p.type === PT_LOAD);
        assert.deepEqual(
          loads.map((p) => [p.offset, p.vaddr, p.filesz, p.memsz]),
          expectedSegments.filter((s) => s.type === 'LOAD').map((s) => [s.offset, s.vaddr, s.filesz, s.memsz]),
          file,
        );
        assert.equal(elf.segments.length, expectedSegments.length, file);
        assert.deepEqual(
          elf.sections.slice(1).map((s) => [s.name, s.addr, s.offset, s.size]),
          expectedSections.slice(1).map((s) => [s.name, s.addr, s.offset, s.size]),
          file,
        );
        // Every section's address maps to the offset readelf's PT_LOAD table gives.
        for (const section of expectedSections.filter((s) => s.addr !== 0 && s.type !== 'NOBITS')) {
          assert.equal(vaddrToFileOffset(elf, section.addr), fileOffsetFromSegments(expectedSegments, section.addr), `${file} ${section.name}`);
        }
      });
    }
  });

  it('finds symbols at the values readelf prints', async (t) => {
    const unstripped = loadFixtures({ program: 'tlsserver', stripped: false });
    if (!requireOrSkip(t, unstripped.length > 0, 'no unstripped fixtures (run scripts/setup.sh)')) return;
    for (const fixture of unstripped) {
      const names = ['main.main', 'runtime.buildVersion', 'crypto/tls.(*Config).writeKeyLog'];
      const found = await withFile(fixture.path, async (reader) => findSymbols(await readElf(reader), names));
      for (const name of names) assert.equal(found.get(name)?.value, await readelfSymbol(fixture.path, name), `${fixture.id} ${name}`);
    }
  });
});

describe('FileReader', () => {
  it('returns exactly the bytes of the file for ranges within and across cache blocks (seeded)', async (t) => {
    const file = sampleBinaries()[0];
    if (!requireOrSkip(t, file !== undefined, 'no fixtures (run scripts/setup.sh)')) return;
    const whole = readFileSync(file!);
    const random = seededRandom(12345);
    await withFile(file!, async (reader) => {
      for (let i = 0; i < 300; i++) {
        const length = [1, 8, 4096, 70_000, 300_000][random(5)]!;
        const offset = random(whole.length - length);
        assert.ok((await reader.read(offset, length)).equals(whole.subarray(offset, offset + length)));
      }
      await assert.rejects(reader.read(whole.length - 4, 8), GokeylogError);
    });
  });

  it('says which file cannot be opened', async () => {
    await assert.rejects(FileReader.open(path.join(scratch, 'missing')), (err: unknown) => err instanceof GokeylogError && /no such file/.test(err.message));
    await assert.rejects(FileReader.open(scratch), (err: unknown) => err instanceof GokeylogError && /not a regular file/.test(err.message));
  });
});

describe('ELF bad input', () => {
  /** A 64-byte ELF header with the given class, byte order and machine; no program headers. */
  function craftedHeader(elfClass: number, byteOrder: number, machine: number): Buffer {
    const header = Buffer.alloc(64);
    Buffer.from([0x7f, 0x45, 0x4c, 0x46, elfClass, byteOrder, 1]).copy(header);
    header.writeUInt16LE(2, 16);
    if (byteOrder === 2) header.writeUInt16BE(machine, 18);
    else header.writeUInt16LE(machine, 18);
    return header;
  }

  const write = (name: string, bytes: Buffer | string): string => {
    const file = path.join(scratch, name);
    writeFileSync(file, bytes);
    return file;
  };

  it('refuses a file that is not ELF, an empty file, ELF32, big-endian and other machines, each with its reason', async () => {
    await expectError(write('text', 'just some text, long enough to have sixty-four bytes in it, really.\n'), /is not an ELF file/);
    await expectError(write('empty', ''), /is not an ELF file/);
    await expectError(write('elf32', craftedHeader(1, 1, 3)), /32-bit ELF/);
    await expectError(write('bigendian', craftedHeader(2, 2, 22)), /big-endian/);
    await expectError(write('riscv', craftedHeader(2, 1, 243)), /RISC-V; only x86-64 and AArch64/);
    await expectError(write('short', craftedHeader(2, 1, 62).subarray(0, 40)), /truncated/);
  });

  it('says a binary cut short is truncated', async (t) => {
    const file = sampleBinaries()[0];
    if (!requireOrSkip(t, file !== undefined, 'no fixtures (run scripts/setup.sh)')) return;
    const whole = readFileSync(file!);
    const loads = (await readelfSegments(file!)).filter((s) => s.type === 'LOAD');
    const loadEnd = Math.max(...loads.map((s) => s.offset + s.filesz));
    // Program headers start at 64: cut inside them; then inside the last loadable segment.
    await expectError(write('cut-phdrs', whole.subarray(0, 100)), /truncated/);
    await expectError(write('cut-load', whole.subarray(0, loadEnd - 100)), /truncated/);
  });
});
