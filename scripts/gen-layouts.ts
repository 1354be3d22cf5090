// Regenerates data/layouts/go1.X.json: for each Go toolchain of the matrix, the offsets of the crypto/tls and
// net fields `gokeylog conns` reads, for amd64 and arm64, as scripts/layouts measures them (reflect on amd64,
// go/types for both, each checked against the DWARF of that toolchain's unstripped tlsserver fixture).
// Run after scripts/build-fixtures.sh:  node --import tsx scripts/gen-layouts.ts
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { LayoutFile } from '../src/conns/layout.js';
import { goRelease } from '../src/golang/version.js';
import { cacheDir } from '../src/util/cache.js';
import { dataDir } from '../src/util/dataDir.js';

interface Toolchain {
  version: string;
  status: string;
  goroot: string;
}
interface ManifestFixture {
  path: string;
  program: string;
  toolchain: string;
  arch: string;
  mode: string;
  stripped: boolean;
}

const cache = cacheDir();
const toolchains = (JSON.parse(readFileSync(path.join(cache, 'go', 'toolchains.json'), 'utf8')) as Toolchain[]).filter((t) => t.status === 'unpacked');
const fixtures = (JSON.parse(readFileSync(path.join(cache, 'fixtures', 'manifest.json'), 'utf8')) as { fixtures: ManifestFixture[] }).fixtures;
const program = path.join(path.dirname(fileURLToPath(import.meta.url)), 'layouts');
const dir = dataDir('layouts');
mkdirSync(dir, { recursive: true });

for (const tc of toolchains) {
  const dwarf = ['amd64', 'arm64'].flatMap((arch) => {
    const f = fixtures.find((x) => x.toolchain === tc.version && x.arch === arch && x.mode === 'exe' && !x.stripped && x.program === 'tlsserver');
    if (!f) throw new Error(`no unstripped ${arch} tlsserver fixture for go${tc.version}: run scripts/build-fixtures.sh`);
    return ['-dwarf', `${arch}=${f.path}`];
  });
  const goroot = path.join(cache, 'go', tc.version);
  const env = {
    ...process.env, GOROOT: goroot, GOTOOLCHAIN: 'local', GOPROXY: 'off', GOFLAGS: '', GO111MODULE: 'on', GOENV: 'off', GOWORK: 'off',
    GOCACHE: path.join(cache, 'gocache', tc.version), GOPATH: path.join(cache, 'gopath'),
  };
  const out = JSON.parse(execFileSync(path.join(goroot, 'bin', 'go'), ['run', '.', ...dwarf], { cwd: program, env, encoding: 'utf8' })) as Omit<LayoutFile, 'release'>;
  const release = goRelease(out.goVersion)!;
  const file: LayoutFile = { release, goVersion: out.goVersion, layouts: out.layouts };
  writeFileSync(path.join(dir, `go${release}.json`), `${JSON.stringify(file, null, 1)}\n`);
  process.stdout.write(`go${release} (${out.goVersion}): ${out.layouts.map((l) => `${l.arch} Conn.in=${l.structs['tls.Conn']!.fields.in}`).join(', ')}\n`);
}
