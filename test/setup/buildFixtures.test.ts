// scripts/build-fixtures.sh itself: incremental, atomic, and honest about what it built. Runs the demo
// subset into a scratch cache that borrows the real toolchains and Go build cache (so it only links).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { cacheDir } from '../../src/util/cache.js';
import { requireOrSkip } from '../support/env.js';
import type { FixtureManifest } from '../support/fixtures.js';
import { goToolchains } from '../support/fixtures.js';
import { repoRoot } from '../support/paths.js';

function buildFixtures(cache: string, ...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync('bash', [path.join(repoRoot(), 'scripts', 'build-fixtures.sh'), ...args], {
    encoding: 'utf8',
    env: { ...process.env, GOKEYLOG_CACHE: cache },
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

const builtLines = (stdout: string): string[] =>
  stdout.split('\n').filter((l) => l.trim().startsWith('built ')).map((l) => l.trim().slice('built '.length)).sort();

/** Every file below dir, relative to it. */
function filesBelow(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' });
}

test('build-fixtures --demo builds once, then only what went stale, and never leaves staged files', (t) => {
  const newest = goToolchains().at(-1);
  const hasTools = ['jq', 'gcc'].every((tool) => spawnSync('which', [tool]).status === 0);
  if (!requireOrSkip(t, newest !== undefined && hasTools, 'no Go toolchain or jq/gcc: run bash scripts/setup.sh')) return;

  const scratch = mkdtempSync(path.join(os.tmpdir(), 'gokeylog-build-fixtures-'));
  try {
    // Borrow the unpacked toolchains (read-only use) and the Go build cache (safe for concurrent use).
    symlinkSync(path.join(cacheDir(), 'go'), path.join(scratch, 'go'));
    mkdirSync(path.join(cacheDir(), 'gocache'), { recursive: true });
    symlinkSync(path.join(cacheDir(), 'gocache'), path.join(scratch, 'gocache'));
    const tc = newest!.version;
    const ids = ['exe/stripped/tlsclient', 'exe/stripped/tlsserver', 'exe/unstripped/tlsclient', 'exe/unstripped/tlsserver']
      .map((rest) => `go${tc}/amd64/${rest}`);

    const first = buildFixtures(scratch, '--demo');
    assert.equal(first.status, 0, first.stderr);
    assert.deepEqual(builtLines(first.stdout), ['c/hello', ...ids]);
    const manifestFile = path.join(scratch, 'fixtures', 'manifest.json');
    const manifestText = readFileSync(manifestFile, 'utf8');
    const manifest = JSON.parse(manifestText) as FixtureManifest;
    assert.deepEqual(manifest.fixtures.map((f) => f.id).sort(), ids);
    assert.deepEqual(manifest.skipped, []);
    for (const f of manifest.fixtures) {
      assert.equal(f.path, path.join(scratch, 'fixtures', f.id));
      assert.ok(existsSync(f.path), f.id);
    }

    const warm = buildFixtures(scratch, '--demo');
    assert.equal(warm.status, 0, warm.stderr);
    assert.deepEqual(builtLines(warm.stdout), [], 'a warm run rebuilds nothing');
    assert.equal(readFileSync(manifestFile, 'utf8'), manifestText);

    // A stamp that no longer matches its inputs (as after a source edit) rebuilds that binary alone.
    const stale = `go${tc}/amd64/exe/stripped/tlsserver`;
    writeFileSync(path.join(scratch, 'fixtures', `${stale}.stamp`), 'inputs from an older checkout\n');
    const rebuilt = buildFixtures(scratch, '--demo');
    assert.equal(rebuilt.status, 0, rebuilt.stderr);
    assert.deepEqual(builtLines(rebuilt.stdout), [stale]);
    assert.deepEqual(filesBelow(path.join(scratch, 'fixtures')).filter((f) => /\.(new|tmp)$/.test(f)), []);
    const after = JSON.parse(readFileSync(manifestFile, 'utf8')) as FixtureManifest;
    assert.deepEqual(after.fixtures.map((f) => f.id).sort(), ids);

    const usage = buildFixtures(scratch, '--bogus');
    assert.notEqual(usage.status, 0);
    assert.match(usage.stderr, /usage: build-fixtures\.sh/);
  } finally {
    // Unlink the borrowed folders first: whatever rmSync does with links, the real cache stays untouched.
    for (const link of ['go', 'gocache']) rmSync(path.join(scratch, link), { force: true });
    rmSync(scratch, { recursive: true, force: true });
  }
});
