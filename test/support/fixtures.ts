import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { cacheDir } from '../../src/util/cache.js';
import { fixturesDir, readFixtureManifest, type FixtureManifest, type GoFixture } from '../../src/util/fixtureManifest.js';

export { testPki, type TestPki } from './pki.js';

export type { FixtureManifest, FixtureMode, GoFixture, SkippedFixture } from '../../src/util/fixtureManifest.js';

/** A real third-party Go binary fetched by scripts/setup-real.sh. */
export interface RealBinary {
  id: string;
  path: string;
  kind: 'etcd' | 'etcdctl' | 'kubectl' | 'buf' | 'esbuild';
  arch: 'amd64' | 'arm64';
  /** "debian etcd-server 3.4.30-…" or "npm @bufbuild/buf-linux-x64@1.x" */
  source: string;
  /** From `go version BIN` of the newest toolchain (the peer). */
  goVersion: string;
  hasTls: boolean;
}

/** What scripts/toolchains.sh found for one version of the matrix. */
export interface ToolchainRecord {
  version: string;
  /** unpacked: in the cache; available: in Debian but not fetched (yet); missing: in no suite. */
  status: 'unpacked' | 'available' | 'missing';
  debVersion?: string;
  suite?: string;
  goVersion?: string;
  reason?: string;
}

export { fixturesDir };

/** The parsed JSON file, or `absent` when setup has not written it. */
function readJson<T>(file: string, absent: T): T {
  if (!existsSync(file)) return absent;
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as T;
  } catch (err) {
    throw new Error(`${file} is not valid JSON (rerun scripts/setup.sh): ${err instanceof Error ? err.message : err}`);
  }
}

function matches<T extends object>(item: T, filter: Partial<T>): boolean {
  return Object.entries(filter).every(([key, value]) => value === undefined || item[key as keyof T] === value);
}

/** The whole fixture manifest; empty when setup has not run. */
export function fixtureManifest(): FixtureManifest {
  return readFixtureManifest() ?? { fixtures: [], skipped: [] };
}

export function loadFixtures(
  filter: Partial<Pick<GoFixture, 'program' | 'toolchain' | 'arch' | 'mode' | 'stripped'>> = {},
): GoFixture[] {
  return fixtureManifest().fixtures.filter((f) => matches(f, filter));
}

export function loadRealBinaries(filter: Partial<Pick<RealBinary, 'kind' | 'arch'>> = {}): RealBinary[] {
  const manifest = readJson<{ binaries?: RealBinary[] }>(path.join(cacheDir(), 'real', 'manifest.json'), {});
  return (manifest.binaries ?? []).filter((b) => matches(b, filter));
}

/** Every version of the matrix as toolchains.sh last saw it; empty when it has not run. */
export function toolchainRecords(): ToolchainRecord[] {
  return readJson<ToolchainRecord[]>(path.join(cacheDir(), 'go', 'toolchains.json'), []);
}

/** The unpacked toolchains, oldest first. */
export function goToolchains(): { version: string; goroot: string; go: string }[] {
  return toolchainRecords()
    .filter((t) => t.status === 'unpacked')
    .map((t) => {
      const goroot = path.join(cacheDir(), 'go', t.version);
      return { version: t.version, goroot, go: path.join(goroot, 'bin', 'go') };
    })
    .filter((t) => existsSync(t.go));
}

/** The newest unpacked toolchain's `go`: the peer for `go version` and `go tool nm`; null before setup. */
export function newestGo(): string | null {
  return goToolchains().at(-1)?.go ?? null;
}

/** A small C program (not Go at all), or null before setup has built it. */
export function notGoBinary(): string | null {
  const file = path.join(fixturesDir(), 'c', 'hello');
  return existsSync(file) ? file : null;
}
