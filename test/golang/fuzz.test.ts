// Seeded mutations of real Go binaries: every outcome must be a report or a GokeylogError (one sentence),
// never another exception and never a hang.
import assert from 'node:assert/strict';
import { closeSync, copyFileSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { inspectBinary } from '../../src/golang/index.js';
import { GokeylogError } from '../../src/util/errors.js';
import { readelfSections } from '../support/readelf.js';
import { requireOrSkip } from '../support/env.js';
import { loadFixtures, type GoFixture } from '../support/fixtures.js';
import { seededRandom } from '../support/random.js';

const scratch = mkdtempSync(path.join(os.tmpdir(), 'gokeylog-fuzz-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

/** The smallest stripped TLS fixture of each pclntab generation we have (different formats, different code paths). */
function targets(): GoFixture[] {
  const byToolchain = new Map<string, GoFixture>();
  for (const f of loadFixtures({ stripped: true })) {
    if (f.program === 'notls') continue;
    const current = byToolchain.get(f.toolchain);
    if (!current || statSync(f.path).size < statSync(current.path).size) byToolchain.set(f.toolchain, f);
  }
  return [...byToolchain.values()];
}

async function outcome(file: string): Promise<string> {
  try {
    await inspectBinary(file);
    return 'ok';
  } catch (err) {
    if (err instanceof GokeylogError && !err.message.includes('\n')) return 'error';
    throw err;
  }
}

describe('fuzzing inspect', () => {
  it('bit-flipped headers, tables and code end in a report or a GokeylogError', { timeout: 300_000 }, async (t) => {
    const fixtures = targets();
    if (!requireOrSkip(t, fixtures.length > 0, 'no fixtures (run scripts/setup.sh)')) return;
    const iterations = Math.max(60, Math.ceil(400 / fixtures.length));
    for (const fixture of fixtures) {
      const copy = path.join(scratch, 'flipped');
      copyFileSync(fixture.path, copy);
      const original = readFileSync(fixture.path);
      // Where mutations matter most: headers and the Go tables gokeylog reads.
      const sections = await readelfSections(fixture.path);
      const regions: [number, number][] = [[0, 64 + 56 * 12]];
      const shoff = Number(original.readBigUInt64LE(40));
      regions.push([shoff, original.length - shoff]);
      for (const s of sections.filter((x) => ['.gopclntab', '.data.rel.ro', '.go.buildinfo', '.go.module', '.noptrdata', '.typelink'].includes(x.name))) {
        regions.push([s.offset, Math.min(s.size, 8192)]);
      }
      const random = seededRandom(0x5eed + Number(fixture.toolchain.replace('.', '')));
      const seen = { ok: 0, error: 0 };
      const fd = openSync(copy, 'r+');
      try {
        for (let i = 0; i < iterations; i++) {
          const [start, length] = random(10) < 8 ? regions[random(regions.length)]! : [0, original.length];
          const flips = 1 + random(8);
          const offsets: number[] = [];
          for (let k = 0; k < flips; k++) {
            const offset = start + random(Math.max(1, length));
            offsets.push(offset);
            writeSync(fd, Buffer.from([original[offset]! ^ (1 << random(8))]), 0, 1, offset);
          }
          try {
            seen[await outcome(copy) as 'ok' | 'error']++;
          } catch (err) {
            assert.fail(`${fixture.id} iteration ${i}, flips at ${offsets.join(',')}: ${err instanceof Error ? err.stack : err}`);
          } finally {
            for (const offset of offsets) writeSync(fd, original.subarray(offset, offset + 1), 0, 1, offset);
          }
        }
      } finally {
        closeSync(fd);
      }
      // Most flips land in bytes the report does not depend on; some must be noticed.
      assert.ok(seen.ok > 0 && seen.error > 0, `${fixture.id}: ${JSON.stringify(seen)}`);
    }
  });

  it('truncated binaries end in a GokeylogError', { timeout: 300_000 }, async (t) => {
    const [fixture] = targets();
    if (!requireOrSkip(t, fixture !== undefined, 'no fixtures (run scripts/setup.sh)')) return;
    const original = readFileSync(fixture!.path);
    // Cut before the last byte the ELF headers describe: past it there is only padding, and a cut there loses nothing.
    const sectionTableEnd = Number(original.readBigUInt64LE(40)) + original.readUInt16LE(58) * original.readUInt16LE(60);
    const described = Math.max(sectionTableEnd, ...(await readelfSections(fixture!.path)).filter((s) => s.type !== 'NOBITS').map((s) => s.offset + s.size));
    const random = seededRandom(0x7a1c);
    const copy = path.join(scratch, 'truncated');
    for (let i = 0; i < 25; i++) {
      const length = i < 5 ? [0, 4, 63, 64, 200][i]! : random(described);
      writeFileSync(copy, original.subarray(0, length));
      assert.equal(await outcome(copy), 'error', `${fixture!.id} cut at ${length}`);
    }
  });
});
