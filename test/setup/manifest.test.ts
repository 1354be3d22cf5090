// The fixture matrix that scripts/setup.sh --tests promises everybody else's tests, checked against
// independent referees: the newest `go version` / `go tool nm` and readelf.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync } from 'node:fs';
import { test } from 'node:test';
import { requireOrSkip } from '../support/env.js';
import { nmWriteKeyLog } from '../support/goTool.js';
import { readelfHeader, readelfSections, readelfSegments } from '../support/readelf.js';
import {
  fixtureManifest,
  goToolchains,
  newestGo,
  notGoBinary,
  toolchainRecords,
} from '../support/fixtures.js';

// Written out here, not read from the scripts, so that a script that forgets a version fails this test.
const MATRIX_VERSIONS = ['1.15', '1.19', '1.21', '1.22', '1.23', '1.24', '1.25', '1.26', '1.27'];
const SETUP_HINT = 'the fixture matrix is missing: run bash scripts/setup.sh --tests';

const run = (command: string, args: string[]): string =>
  execFileSync(command, args, { encoding: 'utf8', maxBuffer: 64 << 20, stdio: ['ignore', 'pipe', 'pipe'] });


/** setup.sh --tests has run: every version that Debian has is unpacked (plain setup.sh unpacks only the newest). */
const matrixSetUp = (): boolean => {
  const records = toolchainRecords();
  return records.length > 0 && records.every((r) => r.status !== 'available');
};

/** Every fixture id the matrix promises for these toolchains (oldest first). */
function expectedIds(toolchains: string[]): string[] {
  const newest = toolchains.at(-1);
  const ids: string[] = [];
  const pair = (tc: string, arch: string, mode: string, program: string): void => {
    for (const s of ['unstripped', 'stripped']) ids.push(`go${tc}/${arch}/${mode}/${s}/${program}`);
  };
  for (const tc of toolchains) {
    for (const mode of ['exe', 'pie', 'cgo']) pair(tc, 'amd64', mode, 'tlsserver');
    for (const mode of ['exe', 'pie']) pair(tc, 'arm64', mode, 'tlsserver');
    pair(tc, 'amd64', 'exe', 'tlsclient');
  }
  if (newest !== undefined) {
    pair(newest, 'amd64', 'race', 'tlsserver');
    pair(toolchains[0]!, 'amd64', 'exe', 'notls');
    pair(newest, 'amd64', 'exe', 'notls');
  }
  return ids;
}

test('every Go version of the matrix is unpacked, or recorded as absent from Debian with a reason', (t) => {
  if (!requireOrSkip(t, matrixSetUp(), SETUP_HINT)) return;
  const records = toolchainRecords();
  for (const version of MATRIX_VERSIONS) {
    const record = records.find((r) => r.version === version);
    assert.ok(record, `go ${version} is not in toolchains.json`);
    if (record.status === 'missing') {
      assert.match(record.reason ?? '', /\S/, `go ${version} is missing without a reason`);
      continue;
    }
    assert.equal(record.status, 'unpacked');
    const toolchain = goToolchains().find((tc) => tc.version === version);
    assert.ok(toolchain, `go ${version} has no bin/go`);
    const reported = run(toolchain.go, ['version']).split(' ')[2];
    assert.equal(reported, record.goVersion);
    assert.ok(reported?.startsWith(`go${version}.`), `go ${version} says it is ${reported}`);
    // GOROOT must be the unpacked tree, with the std sources from golang-1.X-src.
    assert.equal(run(toolchain.go, ['env', 'GOROOT']).trim().endsWith(`/usr/lib/go-${version}`), true);
    assert.ok(existsSync(`${toolchain.goroot}/src/crypto/tls/common.go`), `go ${version} has no std sources`);
  }
});

test('every fixture of the matrix is built, or skipped with a reason', (t) => {
  const toolchains = goToolchains().map((tc) => tc.version);
  const { fixtures, skipped } = fixtureManifest();
  // Which versions must be unpacked is the first test's business; here every unpacked one must be complete.
  if (!requireOrSkip(t, matrixSetUp() && fixtures.length > 0, SETUP_HINT)) return;
  const built = new Map(fixtures.map((f) => [f.id, f]));
  const skips = new Map(skipped.map((s) => [s.id, s.reason]));
  for (const id of expectedIds(toolchains)) {
    const reason = skips.get(id);
    if (reason !== undefined) {
      assert.match(reason, /\S/, `${id} is skipped without a reason`);
      assert.ok(!built.has(id), `${id} is both built and skipped`);
      continue;
    }
    const fixture = built.get(id);
    assert.ok(fixture, `${id} is neither built nor skipped`);
    accessSync(fixture.path, constants.X_OK);
  }
  // Whatever a toolchain cannot build must be the exception, not the rule: amd64 exe always builds.
  for (const tc of toolchains) {
    for (const program of ['tlsserver', 'tlsclient']) {
      assert.ok(built.has(`go${tc}/amd64/exe/stripped/${program}`), `go${tc} amd64 exe ${program} is missing`);
    }
  }
});

test("each fixture is what its manifest entry says, by the newest toolchain's go version and readelf", async (t) => {
  const go = newestGo();
  const { fixtures } = fixtureManifest();
  if (!requireOrSkip(t, go !== null && fixtures.length > 0, SETUP_HINT)) return;

  // One `go version` call for every binary: it prints "PATH: goX.Y.Z" per line.
  const peerVersions = new Map(
    run(go!, ['version', ...fixtures.map((f) => f.path)])
      .trim()
      .split('\n')
      .map((line) => {
        const at = line.lastIndexOf(': ');
        return [line.slice(0, at), line.slice(at + 2).split(' ')[0]] as const;
      }),
  );
  const byPath = new Map(fixtures.map((f) => [f.path, f]));

  for (const f of fixtures) {
    const where = f.id;
    assert.equal(f.id, `go${f.toolchain}/${f.arch}/${f.mode}/${f.stripped ? 'stripped' : 'unstripped'}/${f.program}`);
    assert.equal(peerVersions.get(f.path), f.goVersion, `${where}: go version`);
    assert.ok(f.goVersion.startsWith(`go${f.toolchain}.`), `${where}: ${f.goVersion} is not Go ${f.toolchain}`);

    const header = await readelfHeader(f.path);
    assert.equal(header.machine, f.arch === 'amd64' ? 'Advanced Micro Devices X86-64' : 'AArch64', where);
    // PIE (and cgo's external link, which gcc makes PIE by default) are ET_DYN; plain Go executables are ET_EXEC.
    if (f.mode === 'pie') assert.equal(header.type, 'DYN', `${where}: not PIE`);
    if (f.mode === 'exe') assert.equal(header.type, 'EXEC', `${where}: not a plain executable`);

    const sections = await readelfSections(f.path);
    assert.equal(sections.some((s) => s.name === '.symtab'), !f.stripped, `${where}: .symtab present = stripped?`);
    const dynamic = (await readelfSegments(f.path)).some((s) => s.type === 'INTERP');
    if (f.mode === 'cgo' || f.mode === 'race') assert.ok(dynamic, `${where}: external link without an interpreter`);
    if (f.mode === 'exe') assert.ok(!dynamic, `${where}: CGO_ENABLED=0 build is dynamically linked`);

    if (f.stripped) {
      const twin = f.twin === null ? undefined : byPath.get(f.twin);
      assert.ok(twin, `${where}: its unstripped twin ${f.twin} is not in the manifest`);
      assert.deepEqual(
        [twin.stripped, twin.toolchain, twin.arch, twin.mode, twin.program],
        [false, f.toolchain, f.arch, f.mode, f.program],
        `${where}: twin mismatch`,
      );
      assert.equal(f.nmWriteKeyLog, twin.nmWriteKeyLog, `${where}: ground truth differs from its twin's`);
    } else {
      assert.equal(f.twin, null, where);
      const nm = await nmWriteKeyLog(go!, f.path);
      assert.equal(nm === null ? null : `0x${nm.toString(16)}`, f.nmWriteKeyLog, `${where}: go tool nm disagrees`);
    }
    if (f.program === 'notls') assert.equal(f.nmWriteKeyLog, null, `${where}: notls links crypto/tls`);
    else assert.match(f.nmWriteKeyLog ?? '', /^0x[0-9a-f]+$/, `${where}: no writeKeyLog`);
  }
});

test('the race fixture has the race detector linked in', (t) => {
  const go = newestGo();
  const [race] = fixtureManifest().fixtures.filter((f) => f.mode === 'race' && !f.stripped);
  if (!requireOrSkip(t, go !== null && race !== undefined, SETUP_HINT)) return;
  assert.match(run(go!, ['tool', 'nm', race!.path]), / __tsan_init$/m);
});

test('the C fixture is an ELF program that go version does not take for Go', async (t) => {
  const hello = notGoBinary();
  const go = newestGo();
  if (!requireOrSkip(t, hello !== null && go !== null, SETUP_HINT)) return;
  assert.match((await readelfHeader(hello!)).type, /^(EXEC|DYN)$/);
  assert.equal(run(hello!, []), 'hello from C\n');
  // Depending on the release, go version reports this on stdout or stderr, with or without failing.
  const peer = spawnSync(go!, ['version', hello!], { encoding: 'utf8' });
  assert.match(peer.stdout + peer.stderr, /not a Go executable|could not read Go build info/);
});
