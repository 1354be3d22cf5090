import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { cacheDir } from '../../src/util/cache.js';

export { testPki, type TestPki } from './pki.js';

export type FixtureMode = 'exe' | 'pie' | 'cgo' | 'race';

/** A Go program built by scripts/build-fixtures.sh (see its header for how each mode is built). */
export interface GoFixture {
  /** e.g. "go1.21/amd64/exe/stripped/tlsserver" */
  id: string;
  path: string;
  program: 'tlsserver' | 'tlsclient' | 'notls';
  /** "1.21" */
  toolchain: string;
  /** As `go version BIN` prints it, e.g. "go1.21.13". */
  goVersion: string;
  arch: 'amd64' | 'arm64';
  /** exe: CGO_ENABLED=0; pie: -buildmode=pie; cgo: CGO_ENABLED=1 -linkmode=external; race: -race. */
  mode: FixtureMode;
  /** Built with -ldflags="-s -w". */
  stripped: boolean;
  /** For a stripped binary: its unstripped twin (same toolchain/arch/mode/program). */
  twin: string | null;
  /** "0x…" of crypto/tls.(*Config).writeKeyLog from `go tool nm` on the unstripped twin; null for notls. */
  nmWriteKeyLog: string | null;
}

/** A combination that a toolchain cannot build (e.g. arm64 PIE needing an external linker), and why. */
export interface SkippedFixture {
  id: string;
  reason: string;
}

export interface FixtureManifest {
  fixtures: GoFixture[];
  skipped: SkippedFixture[];
}

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

export const fixturesDir = (): string => path.join(cacheDir(), 'fixtures');

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
  const manifest = readJson<Partial<FixtureManifest>>(path.join(fixturesDir(), 'manifest.json'), {});
  return { fixtures: manifest.fixtures ?? [], skipped: manifest.skipped ?? [] };
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
