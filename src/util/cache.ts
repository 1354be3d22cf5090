import os from 'node:os';
import path from 'node:path';

/** Where setup keeps toolchains, downloaded packages and built fixtures: never inside the repo. */
export function cacheDir(): string {
  return process.env.GOKEYLOG_CACHE ?? path.join(os.homedir(), '.cache', 'gokeylog');
}
