import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { readElf, withFile } from '../../src/elf/index.js';
import { readBuildInfo, type BuildInfo } from '../../src/golang/buildinfo.js';
import { inspectBinary } from '../../src/golang/index.js';
import { requireOrSkip } from '../support/env.js';
import { loadFixtures, loadRealBinaries, newestGo } from '../support/fixtures.js';
import { spawnChecked } from '../support/traffic.js';

const scratch = mkdtempSync(path.join(os.tmpdir(), 'gokeylog-buildinfo-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

/** `go version -m BIN`, the referee, reduced to the same shape. */
async function goVersionM(go: string, file: string): Promise<{ goVersion: string; path: string | undefined; main: string | undefined; deps: string[]; settings: Record<string, string> }> {
  const { stdout } = await spawnChecked(go, ['version', '-m', file]);
  const [first, ...lines] = stdout.trimEnd().split('\n');
  const result: Awaited<ReturnType<typeof goVersionM>> = { goVersion: first!.slice(first!.lastIndexOf(': ') + 2), path: undefined, main: undefined, deps: [], settings: {} };
  for (const line of lines) {
    const [, kind, a = '', b = ''] = line.split('\t');
    if (kind === 'path') result.path = a;
    if (kind === 'mod') result.main = `${a}@${b}`;
    if (kind === 'dep') result.deps.push(`${a}@${b}`);
    if (kind === '=>') result.deps[result.deps.length - 1] = `${a}@${b}`;
    if (kind === 'build') result.settings[a.slice(0, a.indexOf('='))] = a.slice(a.indexOf('=') + 1);
  }
  return result;
}

const ours = (info: BuildInfo) => ({
  goVersion: info.goVersion,
  path: info.path,
  main: info.main ? `${info.main.path}@${info.main.version}` : undefined,
  deps: info.deps.map((d) => `${d.path}@${d.version}`),
  settings: Object.fromEntries(info.settings),
});

describe('build info', () => {
  it('reads what `go version -m` reads, in both encodings (pointers before Go 1.18, inline after)', async (t) => {
    const go = newestGo();
    const files = [...loadFixtures({ program: 'tlsserver' }).map((f) => f.path), ...loadRealBinaries().map((b) => b.path)];
    if (!requireOrSkip(t, go !== null && files.length > 0, 'no Go toolchain or fixtures (run scripts/setup.sh)')) return;
    for (const file of files) {
      const expected = await goVersionM(go!, file);
      const info = await withFile(file, async (reader) => readBuildInfo(await readElf(reader)));
      assert.ok(info, file);
      assert.deepEqual(ours(info!), expected, file);
    }
  });

  it('falls back to runtime.buildVersion (by symbol, or found without symbols), then to the pclntab format, and says so', async (t) => {
    const [unstripped] = loadFixtures({ program: 'tlsserver', stripped: false, arch: 'amd64', mode: 'exe' }).slice(-1);
    const strippedAll = loadFixtures({ program: 'tlsserver', stripped: true });
    if (!requireOrSkip(t, unstripped !== undefined && strippedAll.length > 0, 'no fixtures (run scripts/setup.sh)')) return;
    const magic = Buffer.from('\xff Go buildinf:', 'latin1');
    const without = (file: string, name: string, wipe: Buffer[]): string => {
      const bytes = readFileSync(file);
      for (const needle of wipe) for (let at = bytes.indexOf(needle); at >= 0; at = bytes.indexOf(needle, at + 1)) bytes.fill(0, at, at + needle.length);
      const copy = path.join(scratch, name);
      writeFileSync(copy, bytes, { mode: 0o700 });
      return copy;
    };
    const fromSymbol = await inspectBinary(without(unstripped!.path, 'nobuildinfo-unstripped', [magic]));
    assert.equal(fromSymbol.goVersionSource, 'runtime.buildVersion');
    assert.equal(fromSymbol.goVersion, unstripped!.goVersion);
    // The holdout case (a stripped esbuild with no build info, reported as "go1.20+"): every toolchain, arch
    // and mode, stripped, build info wiped; the referee is the toolchain's own `go version`.
    for (const stripped of strippedAll) {
      const report = await inspectBinary(without(stripped.path, 'nobuildinfo-stripped', [magic]));
      assert.equal(report.goVersionSource, 'runtime.buildVersion', stripped.id);
      assert.equal(report.goVersion, stripped.goVersion, stripped.id);
    }
    // With the version string gone too, only the pclntab format is left: a range of releases holding the fixture's.
    const [stripped] = strippedAll.filter((f) => f.arch === 'amd64' && f.mode === 'exe').slice(-1);
    const fromFormat = await inspectBinary(without(stripped!.path, 'noversion-stripped', [magic, Buffer.from(stripped!.goVersion)]));
    assert.equal(fromFormat.goVersionSource, 'pclntab');
    const minor = Number(/^go1\.(\d+)/.exec(stripped!.goVersion)![1]);
    const range = /^go1\.(\d+)(?:-go1\.(\d+)|\+)$/.exec(fromFormat.goVersion);
    assert.ok(range && minor >= Number(range[1]) && (range[2] === undefined || minor <= Number(range[2])), fromFormat.goVersion);
    assert.equal(fromFormat.writeKeyLog.vaddr, Number(stripped!.nmWriteKeyLog));
  });
});
