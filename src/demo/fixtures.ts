import { existsSync } from 'node:fs';
import { GokeylogError } from '../util/errors.js';
import { fixtureManifestPath, readFixtureManifest, type GoFixture } from '../util/fixtureManifest.js';

export interface DemoPrograms {
  server: string;
  client: string;
  goVersion: string;
}

/** The newest toolchain's stripped amd64 server and client that `scripts/setup.sh` built for the demo. */
export function demoPrograms(): DemoPrograms {
  const missing = new GokeylogError(
    `the demo programs are not built yet (no ${fixtureManifestPath()}): run \`bash scripts/setup.sh\` first.`,
    'GOKEYLOG_ERR_NOT_SET_UP',
  );
  const manifest = readFixtureManifest();
  if (!manifest) throw missing;
  const pick = (program: GoFixture['program']): GoFixture | undefined =>
    manifest.fixtures
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
