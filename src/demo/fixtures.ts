import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { cacheDir } from '../util/cache.js';
import { GokeylogError } from '../util/errors.js';

/** The fields of a fixture-manifest entry (written by scripts/build-fixtures.sh) that the demo needs. */
interface ManifestEntry {
  path: string;
  program: string;
  toolchain: string;
  goVersion: string;
  arch: string;
  mode: string;
  stripped: boolean;
}

export interface DemoPrograms {
  server: string;
  client: string;
  goVersion: string;
}

/** The newest toolchain's stripped amd64 server and client that `scripts/setup.sh` built for the demo. */
export function demoPrograms(): DemoPrograms {
  const manifest = path.join(cacheDir(), 'fixtures', 'manifest.json');
  const missing = new GokeylogError(
    `the demo programs are not built yet (no ${manifest}): run \`bash scripts/setup.sh\` first.`,
    'GOKEYLOG_ERR_NOT_SET_UP',
  );
  if (!existsSync(manifest)) throw missing;
  const { fixtures } = JSON.parse(readFileSync(manifest, 'utf8')) as { fixtures: ManifestEntry[] };
  const pick = (program: string): ManifestEntry | undefined =>
    fixtures
      .filter((f) => f.program === program && f.arch === 'amd64' && f.mode === 'exe' && f.stripped && existsSync(f.path))
      .sort((a, b) => compareVersions(b.toolchain, a.toolchain))[0];
  const server = pick('tlsserver');
  const client = pick('tlsclient');
  if (!server || !client) throw missing;
  return { server: server.path, client: client.path, goVersion: server.goVersion };
}

/** "1.9" < "1.27": compare dotted versions numerically. */
function compareVersions(a: string, b: string): number {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}
