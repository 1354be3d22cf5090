import assert from 'node:assert/strict';
import { test } from 'node:test';
import { builtinLayouts } from '../../src/conns/index.js';
import { goRelease } from '../../src/golang/version.js';
import { requireOrSkip } from '../support/env.js';
import { goToolchains, loadFixtures } from '../support/fixtures.js';
import { measureLayouts } from '../support/layouts.js';

// The referees are each toolchain's own reflect and the DWARF its compiler wrote for amd64 and for arm64
// (scripts/layouts fails when go/types disagrees with either): the shipped tables must equal them.
for (const { version } of goToolchains()) {
  test(`data/layouts for go${version} equals what go${version} measures (reflect, go/types, DWARF of amd64 and arm64 builds)`, async (t) => {
    if (!requireOrSkip(t, loadFixtures({ program: 'tlsserver', toolchain: version, stripped: false }).length > 0, `no go${version} fixtures (run npm run setup)`)) return;
    const measured = await measureLayouts(version);
    const shipped = builtinLayouts().find((f) => f.release === goRelease(measured.goVersion));
    assert.ok(shipped, `a table for ${measured.goVersion} ships in data/layouts`);
    assert.deepEqual(shipped!.layouts, measured.layouts);
  });
}
