import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, openSync, closeSync, readFileSync, rmSync, writeSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { inspectBinary, planHook, type InspectReport } from '../../src/golang/index.js';
import { ExitCode, GokeylogError } from '../../src/util/errors.js';
import { fileOffsetFromSegments, readelfSegments } from '../support/readelf.js';
import { goToolNm, WRITE_KEY_LOG } from '../support/goTool.js';
import { requireOrSkip } from '../support/env.js';
import { loadFixtures, loadRealBinaries, newestGo, notGoBinary, type GoFixture } from '../support/fixtures.js';

const scratch = mkdtempSync(path.join(os.tmpdir(), 'gokeylog-golang-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

const tlsFixtures = (): GoFixture[] => loadFixtures().filter((f) => f.program !== 'notls');

/** The rule stated in Go's ABI documents: register ABI on amd64 from Go 1.17, on arm64 from Go 1.18. */
function expectedAbi(arch: string, goVersion: string): string {
  const minor = Number(/^go1\.(\d+)/.exec(goVersion)![1]);
  return minor >= (arch === 'amd64' ? 17 : 18) ? 'register' : 'stack';
}

const expectedArgs = {
  'amd64/register': ['bx', 'cx', 'di', 'si', 'r9', 'r10'],
  'arm64/register': ['x1', 'x2', 'x3', 'x4', 'x6', 'x7'],
  'amd64/stack': [16, 24, 32, 40, 56, 64],
  'arm64/stack': [16, 24, 32, 40, 56, 64],
} as Record<string, (string | number)[]>;

function argList(report: InspectReport): (string | number)[] {
  const a = report.writeKeyLog.args;
  return [a.labelPtr, a.labelLen, a.clientRandomPtr, a.clientRandomLen, a.secretPtr, a.secretLen].map((l) => ('register' in l ? l.register : l.stackOffset));
}

async function checkAgainstReferee(report: InspectReport, file: string, what: string): Promise<void> {
  const segments = await readelfSegments(file);
  assert.equal(report.writeKeyLog.fileOffset, fileOffsetFromSegments(segments, report.writeKeyLog.vaddr), `${what}: file offset vs readelf`);
  assert.equal(report.writeKeyLog.validated, true);
  assert.deepEqual(argList(report), expectedArgs[`${report.arch}/${report.abi}`], `${what}: argument locations`);
}

/** A copy of `file` with `patch` applied (offset → bytes). */
function patchedCopy(file: string, name: string, patches: [number, Buffer][]): string {
  const copy = path.join(scratch, name);
  copyFileSync(file, copy);
  const fd = openSync(copy, 'r+');
  try {
    for (const [offset, bytes] of patches) writeSync(fd, bytes, 0, bytes.length, offset);
  } finally {
    closeSync(fd);
  }
  return copy;
}

const isError = (pattern: RegExp, code: number) => (err: unknown) => err instanceof GokeylogError && pattern.test(err.message) && err.exitCode === code;

describe('inspect over the fixture matrix', () => {
  it('finds exactly `go tool nm`\'s writeKeyLog in every fixture, at readelf\'s file offset, with the right version and ABI', async (t) => {
    const fixtures = tlsFixtures();
    if (!requireOrSkip(t, fixtures.length > 0, 'no fixtures (run scripts/setup.sh)')) return;
    for (const fixture of fixtures) {
      const report = await inspectBinary(fixture.path);
      assert.equal(report.writeKeyLog.vaddr, Number(fixture.nmWriteKeyLog), `${fixture.id}: address vs go tool nm`);
      assert.equal(report.writeKeyLog.method, fixture.stripped ? 'pclntab' : 'symtab', fixture.id);
      assert.equal(report.stripped, fixture.stripped, fixture.id);
      assert.equal(report.goVersion, fixture.goVersion, fixture.id);
      assert.equal(report.goVersionSource, 'buildinfo', fixture.id);
      assert.equal(report.arch, fixture.arch, fixture.id);
      assert.equal(report.abi, expectedAbi(fixture.arch, fixture.goVersion), fixture.id);
      assert.equal(report.pie, fixture.mode === 'pie', fixture.id);
      if (fixture.mode === 'cgo') assert.equal(report.cgo, true, fixture.id);
      if (fixture.mode === 'exe') assert.equal(report.linking, 'static', fixture.id);
      await checkAgainstReferee(report, fixture.path, fixture.id);
    }
  });

  it('gives the probe a HookPlan with the same facts', async (t) => {
    const [fixture] = loadFixtures({ program: 'tlsserver', stripped: true });
    if (!requireOrSkip(t, fixture !== undefined, 'no fixtures (run scripts/setup.sh)')) return;
    const plan = await planHook(fixture!.path);
    assert.equal(plan.vaddr, BigInt(fixture!.nmWriteKeyLog!));
    const segments = await readelfSegments(fixture!.path);
    assert.equal(plan.fileOffset, BigInt(fileOffsetFromSegments(segments, Number(fixture!.nmWriteKeyLog))!));
    assert.equal(plan.validated, true);
    assert.equal(plan.goVersion, fixture!.goVersion);
  });

  it('says a Go program without crypto/tls has nothing to hook', async (t) => {
    const fixtures = loadFixtures({ program: 'notls' });
    if (!requireOrSkip(t, fixtures.length > 0, 'no notls fixture (run scripts/setup.sh)')) return;
    for (const fixture of fixtures) await assert.rejects(inspectBinary(fixture.path), isError(/without crypto\/tls/, ExitCode.unsupportedInput), fixture.id);
  });

  it('says a C program is not a Go binary', async (t) => {
    const c = notGoBinary();
    if (!requireOrSkip(t, c !== null, 'no C fixture (run scripts/setup.sh)')) return;
    await assert.rejects(inspectBinary(c!), isError(/is not a Go binary/, ExitCode.unsupportedInput));
  });
});

describe('inspect on real third-party binaries', () => {
  it('finds and validates writeKeyLog in every real binary with crypto/tls, and refuses the others', async (t) => {
    const binaries = loadRealBinaries();
    if (!requireOrSkip(t, binaries.length > 0, 'no real binaries (run scripts/setup-real.sh)')) return;
    for (const binary of binaries) {
      if (!binary.hasTls) {
        await assert.rejects(inspectBinary(binary.path), isError(/without crypto\/tls/, ExitCode.unsupportedInput), binary.id);
        continue;
      }
      const report = await inspectBinary(binary.path);
      assert.equal(report.goVersion, binary.goVersion, binary.id);
      assert.equal(report.arch, binary.arch, binary.id);
      assert.equal(report.abi, expectedAbi(binary.arch, binary.goVersion), binary.id);
      await checkAgainstReferee(report, binary.path, binary.id);
    }
  });

  it('covers the 1.16–1.17 pclntab format through esbuild', async (t) => {
    const esbuilds = loadRealBinaries({ kind: 'esbuild' }).filter((b) => b.hasTls);
    if (!requireOrSkip(t, esbuilds.length > 0, 'no esbuild binaries (run scripts/setup-real.sh)')) return;
    const formats = new Set<string>();
    for (const binary of esbuilds) formats.add((await inspectBinary(binary.path)).pclntab.format);
    assert.ok(formats.has('1.16'), `formats seen: ${[...formats].join(', ')}`);
  });
});

/** Zero e_shoff, e_shnum and e_shstrndx: the loader does not need section headers, and some binaries have none. */
const withoutSectionHeaders = (file: string, name: string): string =>
  patchedCopy(file, name, [[40, Buffer.alloc(8)], [60, Buffer.alloc(4)]]);

/** One stripped fixture per toolchain × arch × mode. */
function onePerKind(): GoFixture[] {
  const seen = new Set<string>();
  return tlsFixtures().filter((f) => {
    const key = `${f.toolchain}/${f.arch}/${f.mode}`;
    return f.stripped && !seen.has(key) && seen.add(key);
  });
}

describe('inspect without the usual landmarks', () => {
  it('works on a copy with no section headers at all (pclntab found by scanning, confirmed by moduledata)', async (t) => {
    const fixtures = onePerKind();
    const real = loadRealBinaries().filter((b) => b.hasTls);
    if (!requireOrSkip(t, fixtures.length > 0, 'no fixtures (run scripts/setup.sh)')) return;
    for (const { id, path: file, expected } of [
      ...fixtures.map((f) => ({ id: f.id, path: f.path, expected: Number(f.nmWriteKeyLog) })),
      ...real.map((b) => ({ id: b.id, path: b.path, expected: undefined })),
    ]) {
      const copy = withoutSectionHeaders(file, 'noshdr');
      const report = await inspectBinary(copy);
      assert.equal(report.pclntab.source, 'scan', id);
      const want = expected ?? (await inspectBinary(file)).writeKeyLog.vaddr;
      assert.equal(report.writeKeyLog.vaddr, want, `${id} without section headers`);
      await checkAgainstReferee(report, copy, id);
      rmSync(copy);
    }
  });

  it('finds writeKeyLog by the built-in signatures when its name is gone from the pclntab', async (t) => {
    const fixtures = tlsFixtures().filter((f) => f.stripped);
    if (!requireOrSkip(t, fixtures.length > 0, 'no fixtures (run scripts/setup.sh)')) return;
    const name = Buffer.from('crypto/tls.(*Config).writeKeyLog\0', 'latin1');
    for (const fixture of fixtures) {
      const whole = readFileSync(fixture.path);
      const patches: [number, Buffer][] = [];
      for (let at = whole.indexOf(name); at >= 0; at = whole.indexOf(name, at + 1)) patches.push([at, Buffer.alloc(name.length - 1, 0x78)]);
      assert.ok(patches.length > 0, fixture.id);
      const copy = patchedCopy(fixture.path, 'obfuscated', patches);
      const report = await inspectBinary(copy);
      assert.equal(report.writeKeyLog.method, 'signature', fixture.id);
      assert.equal(report.writeKeyLog.vaddr, Number(fixture.nmWriteKeyLog), fixture.id);
      rmSync(copy);
    }
  });

  it('finds writeKeyLog by a --reference built by the same Go release (another program), and refuses one from another release', async (t) => {
    const targets = onePerKind();
    if (!requireOrSkip(t, targets.length > 0, 'no fixtures (run scripts/setup.sh)')) return;
    for (const target of targets) {
      const references = loadFixtures({ toolchain: target.toolchain, arch: target.arch, stripped: false }).filter((f) => f.program !== 'notls');
      const reference = references.find((f) => f.program !== target.program && f.mode === target.mode) ?? references.find((f) => f.mode === target.mode);
      if (!reference) continue;
      const report = await inspectBinary(target.path, { reference: reference.path });
      assert.equal(report.writeKeyLog.method, 'signature', target.id);
      assert.equal(report.writeKeyLog.vaddr, Number(target.nmWriteKeyLog), `${target.id} with reference ${reference.id}`);
    }
    const [newest] = loadFixtures({ toolchain: targets.at(-1)!.toolchain, arch: 'amd64', stripped: true, program: 'tlsserver', mode: 'exe' });
    const [oldest] = loadFixtures({ toolchain: targets[0]!.toolchain, arch: 'amd64', stripped: false, program: 'tlsserver', mode: 'exe' });
    if (newest && oldest && newest.toolchain !== oldest.toolchain) {
      await assert.rejects(inspectBinary(newest.path, { reference: oldest.path }), isError(/matches no function/, ExitCode.notFound));
    }
  });

  it('locates kubectl like the original write-up: a reference from the same Go release finds the one match', async (t) => {
    const [kubectl] = loadRealBinaries({ kind: 'kubectl' });
    const release = kubectl ? /^go1\.\d+/.exec(kubectl.goVersion)![0].slice(2) : '';
    const [reference] = loadFixtures({ toolchain: release, arch: 'amd64', mode: 'exe', stripped: false, program: 'tlsclient' });
    if (!requireOrSkip(t, kubectl !== undefined && reference !== undefined, 'no kubectl or no fixture of its Go release')) return;
    const byName = await inspectBinary(kubectl!.path);
    const bySignature = await inspectBinary(kubectl!.path, { reference: reference!.path });
    assert.equal(bySignature.writeKeyLog.method, 'signature');
    assert.equal(bySignature.writeKeyLog.vaddr, byName.writeKeyLog.vaddr);
  });

  it('refuses an ambiguous signature: writeKeyLog\'s code copied over another function', async (t) => {
    const go = newestGo();
    const fixture = loadFixtures({ program: 'tlsserver', stripped: true, arch: 'amd64', mode: 'exe' }).at(-1);
    if (!requireOrSkip(t, go !== null && fixture !== undefined, 'no fixtures (run scripts/setup.sh)')) return;
    // go tool nm on the twin: a function after writeKeyLog big enough to take a copy of its first 512 bytes.
    const functions = (await goToolNm(go!, fixture!.twin!, { sizes: true })).filter((f) => f.type === 'T' || f.type === 't');
    const at = functions.findIndex((f) => f.name === WRITE_KEY_LOG);
    const victim = functions.slice(at + 1).find((f) => f.size! >= 512)!;
    const segments = await readelfSegments(fixture!.path);
    const source = fileOffsetFromSegments(segments, Number(fixture!.nmWriteKeyLog))!;
    const target = fileOffsetFromSegments(segments, victim.address)!;
    const code = readFileSync(fixture!.path).subarray(source, source + 512);
    const copy = patchedCopy(fixture!.path, 'twice', [[target, Buffer.from(code)]]);
    await assert.rejects(inspectBinary(copy, { reference: fixture!.twin! }), isError(/is ambiguous: it matches 2 functions/, ExitCode.notFound));
    rmSync(copy);
  });

  it('refuses a candidate whose entry lacks the stack-check prologue, saying what it saw', async (t) => {
    const fixtures = onePerKind();
    if (!requireOrSkip(t, fixtures.length > 0, 'no fixtures (run scripts/setup.sh)')) return;
    for (const fixture of fixtures) {
      const segments = await readelfSegments(fixture.path);
      const offset = fileOffsetFromSegments(segments, Number(fixture.nmWriteKeyLog))!;
      // amd64 NOPs; on arm64 0xd503201f is NOP too and 0x90909090 is not an ldr from x28.
      const copy = patchedCopy(fixture.path, 'noprologue', [[offset, Buffer.alloc(8, 0x90)]]);
      await assert.rejects(inspectBinary(copy), isError(/does not start with Go's (amd64|arm64) stack-check prologue; its first bytes are 90 90 90 90/, ExitCode.notFound), fixture.id);
      rmSync(copy);
    }
  });
});
