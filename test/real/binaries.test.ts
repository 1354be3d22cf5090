// What scripts/setup-real.sh fetched is what the other tests need: real, stripped Go binaries of both
// architectures whose pclntab formats span every magic gokeylog must read, checked with readelf.
import assert from 'node:assert/strict';
import { closeSync, existsSync, openSync, readSync } from 'node:fs';
import { describe, it } from 'node:test';
import { requireOrSkip } from '../support/env.js';
import { loadRealBinaries, type RealBinary } from '../support/fixtures.js';
import { readelfHeader, readelfSections } from '../support/readelf.js';
import { spawnChecked } from '../support/traffic.js';

/** The pclntab magic each Go release writes (Go's runtime/symtab.go history, restated in DESIGN.md). */
function expectedMagic(goVersion: string): number {
  const minor = Number(/^go1\.(\d+)/.exec(goVersion)?.[1]);
  if (minor <= 15) return 0xfffffffb;
  if (minor <= 17) return 0xfffffffa;
  if (minor <= 19) return 0xfffffff0;
  return 0xfffffff1;
}

/** What readelf says of a binary: its machine, whether it has .symtab, the file offset of .gopclntab (null without). */
async function readelf(file: string): Promise<{ machine: string; hasSymtab: boolean; pclntabOffset: number | null }> {
  const sections = await readelfSections(file);
  return {
    machine: (await readelfHeader(file)).machine,
    hasSymtab: sections.some((s) => s.name === '.symtab'),
    pclntabOffset: sections.find((s) => s.name === '.gopclntab')?.offset ?? null,
  };
}

function u32le(file: string, offset: number): number {
  const fd = openSync(file, 'r');
  try {
    const bytes = Buffer.alloc(4);
    assert.equal(readSync(fd, bytes, 0, 4, offset), 4);
    return bytes.readUInt32LE(0);
  } finally {
    closeSync(fd);
  }
}

describe('real third-party binaries (scripts/setup-real.sh)', () => {
  const binaries = loadRealBinaries();

  it('cover Debian etcd/etcdctl/kubectl and buf on amd64 and arm64, and esbuild with and without crypto/tls', (t) => {
    if (!requireOrSkip(t, binaries.length > 0, 'no real binaries (run scripts/setup-real.sh)')) return;
    const kinds = (b: RealBinary) => `${b.kind}/${b.arch}`;
    const present = new Set(binaries.map(kinds));
    for (const want of ['etcd/amd64', 'etcdctl/amd64', 'kubectl/amd64', 'etcd/arm64', 'kubectl/arm64', 'buf/amd64', 'buf/arm64', 'esbuild/amd64']) {
      assert.ok(present.has(want), `${want} is missing`);
    }
    assert.ok(binaries.some((b) => !b.hasTls), 'a real binary without crypto/tls (esbuild 0.8.0)');
    for (const kind of ['etcd', 'etcdctl', 'kubectl', 'buf'] as const) {
      assert.ok(binaries.filter((b) => b.kind === kind).every((b) => b.hasTls), `${kind} links crypto/tls`);
    }
  });

  it('span every pclntab magic, and each binary is the declared, stripped ELF built by its Go version', async (t) => {
    if (!requireOrSkip(t, binaries.length > 0, 'no real binaries (run scripts/setup-real.sh)')) return;
    const magics = new Set<number>();
    for (const binary of binaries) {
      assert.ok(existsSync(binary.path), `${binary.id}: ${binary.path} exists`);
      assert.match(binary.goVersion, /^go1\.\d+(\.\d+)?$/, `${binary.id}: goVersion filled (rerun setup-real.sh after toolchains.sh)`);
      const elf = await readelf(binary.path);
      assert.equal(elf.machine, binary.arch === 'amd64' ? 'Advanced Micro Devices X86-64' : 'AArch64', binary.id);
      assert.equal(elf.hasSymtab, false, `${binary.id} is stripped`);
      // The version string the linker embedded (runtime.buildVersion) is in the file itself.
      await spawnChecked('grep', ['-q', '-a', '-F', binary.goVersion, binary.path]);
      assert.notEqual(elf.pclntabOffset, null, `${binary.id} has a .gopclntab section header`);
      const magic = u32le(binary.path, elf.pclntabOffset!);
      assert.equal(magic.toString(16), expectedMagic(binary.goVersion).toString(16), `${binary.id} pclntab magic`);
      magics.add(magic);
    }
    assert.deepEqual([...magics].sort(), [0xfffffff0, 0xfffffff1, 0xfffffffa, 0xfffffffb]);
  });
});
