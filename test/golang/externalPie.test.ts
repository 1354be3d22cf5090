// A PIE linked by the system linker (-buildmode=pie -linkmode=external): with Go 1.21 the pclntab has no
// section of its own, it is merged into .data.rel.ro, and its pointers are RELATIVE relocations. The fixture
// matrix has no such build, so this test makes one (from the fixture sources, with the fixture build cache).
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { inspectBinary } from '../../src/golang/index.js';
import { cacheDir } from '../../src/util/cache.js';
import { fileOffsetFromSegments, readelfSections, readelfSegments } from '../support/readelf.js';
import { nmWriteKeyLog } from '../support/goTool.js';
import { requireOrSkip } from '../support/env.js';
import { goToolchains } from '../support/fixtures.js';
import { repoRoot } from '../support/paths.js';
import { commandExists, spawnChecked } from '../support/traffic.js';

const scratch = mkdtempSync(path.join(os.tmpdir(), 'gokeylog-extpie-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

const TOOLCHAIN = '1.21';

async function build(go: string, out: string, stripped: boolean): Promise<void> {
  const ldflags = ['-linkmode=external', ...(stripped ? ['-s', '-w'] : [])].join(' ');
  await spawnChecked(go, ['build', '-buildvcs=false', '-buildmode=pie', `-ldflags=${ldflags}`, '-o', out, './tlsserver'], {
    cwd: path.join(repoRoot(), 'test', 'fixtures', 'go'),
    timeoutMs: 600_000,
    env: {
      ...process.env, GOOS: 'linux', GOARCH: 'amd64', CGO_ENABLED: '1', GOTOOLCHAIN: 'local', GOPROXY: 'off', GOFLAGS: '', GO111MODULE: 'on',
      GOENV: 'off', GOWORK: 'off', GOCACHE: path.join(cacheDir(), 'gocache', TOOLCHAIN), GOPATH: path.join(cacheDir(), 'gopath'),
    },
  });
}

describe('externally linked PIE', () => {
  it(`finds writeKeyLog with the pclntab inside .data.rel.ro (Go ${TOOLCHAIN}), stripped or not`, { timeout: 900_000 }, async (t) => {
    const go = goToolchains().find((tc) => tc.version === TOOLCHAIN)?.go;
    if (!requireOrSkip(t, go !== undefined && commandExists('gcc'), `no Go ${TOOLCHAIN} toolchain or gcc (run scripts/setup.sh)`)) return;
    const unstripped = path.join(scratch, 'unstripped');
    const stripped = path.join(scratch, 'stripped');
    await build(go!, unstripped, false);
    await build(go!, stripped, true);
    const expected = (await nmWriteKeyLog(go!, unstripped))!;
    assert.ok(!(await readelfSections(stripped)).some((s) => s.name.endsWith('gopclntab')), 'this build shape has no pclntab section');
    const report = await inspectBinary(stripped);
    assert.equal(report.pie, true);
    assert.equal(report.pclntab.source, 'scan');
    assert.equal(report.writeKeyLog.vaddr, expected);
    assert.equal(report.writeKeyLog.fileOffset, fileOffsetFromSegments(await readelfSegments(stripped), expected));
    assert.equal((await inspectBinary(unstripped)).writeKeyLog.vaddr, expected);
  });
});
