import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import type { ArchLayout } from '../../src/conns/layout.js';
import { cacheDir } from '../../src/util/cache.js';
import { loadFixtures } from './fixtures.js';
import { repoRoot } from './paths.js';

/**
 * What scripts/layouts measures with one toolchain of the matrix: reflect (amd64) and go/types (amd64, arm64),
 * each checked against the DWARF of that toolchain's unstripped tlsserver fixture for the architecture. Used
 * by scripts/gen-layouts.ts to write data/layouts, and by the test that the shipped tables are current.
 */
export async function measureLayouts(toolchain: string): Promise<{ goVersion: string; layouts: ArchLayout[] }> {
  const dwarf = (['amd64', 'arm64'] as const).flatMap((arch) => {
    const f = loadFixtures({ program: 'tlsserver', toolchain, arch, mode: 'exe', stripped: false })[0];
    if (!f) throw new Error(`no unstripped ${arch} tlsserver fixture for go${toolchain}: run scripts/build-fixtures.sh`);
    return ['-dwarf', `${arch}=${f.path}`];
  });
  const cache = cacheDir();
  const goroot = path.join(cache, 'go', toolchain);
  const env = {
    ...process.env, GOROOT: goroot, GOTOOLCHAIN: 'local', GOPROXY: 'off', GOFLAGS: '', GO111MODULE: 'on', GOENV: 'off', GOWORK: 'off',
    GOCACHE: path.join(cache, 'gocache', toolchain), GOPATH: path.join(cache, 'gopath'),
  };
  const { stdout } = await promisify(execFile)(path.join(goroot, 'bin', 'go'), ['run', '.', ...dwarf], {
    cwd: path.join(repoRoot(), 'scripts', 'layouts'), env, maxBuffer: 1 << 24, timeout: 600_000,
  });
  return JSON.parse(stdout) as { goVersion: string; layouts: ArchLayout[] };
}
