/**
 * The fixture manifest scripts/build-fixtures.sh writes ($GOKEYLOG_CACHE/fixtures/manifest.json): the Go
 * programs built by every toolchain of the matrix. One type for everybody who reads it — the demo (its
 * programs), the tests (their fixtures and ground truth) and scripts/gen-signatures.ts.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { cacheDir } from './cache.js';
import { GokeylogError } from './errors.js';

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

export const fixturesDir = (): string => path.join(cacheDir(), 'fixtures');
export const fixtureManifestPath = (): string => path.join(fixturesDir(), 'manifest.json');

/** The manifest, or undefined when setup has not written it. */
export function readFixtureManifest(): FixtureManifest | undefined {
  const file = fixtureManifestPath();
  if (!existsSync(file)) return undefined;
  try {
    const manifest = JSON.parse(readFileSync(file, 'utf8')) as Partial<FixtureManifest>;
    return { fixtures: manifest.fixtures ?? [], skipped: manifest.skipped ?? [] };
  } catch (err) {
    throw new GokeylogError(`${file} is not valid JSON (rerun scripts/setup.sh): ${err instanceof Error ? err.message : err}.`, 'GOKEYLOG_ERR_NOT_SET_UP', { cause: err });
  }
}
