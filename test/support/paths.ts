import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root, whether tests run from test/ (tsx) or dist/test/ (compiled). */
export function repoRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!existsSync(path.join(dir, 'package.json'))) {
    const up = path.dirname(dir);
    if (up === dir) throw new Error('repository root not found');
    dir = up;
  }
  return dir;
}

/** The built CLI, as a user runs it. */
export const cliPath = (): string => path.join(repoRoot(), 'bin', 'gokeylog');

/**
 * Node arguments that run the CLI: bin/gokeylog (the built dist/) when the tests run compiled, as under
 * `npm test`, else the sources through tsx, so a test run from the sources tests the sources.
 */
export function cliArgv(): string[] {
  const compiled = fileURLToPath(import.meta.url).includes(`${path.sep}dist${path.sep}`);
  return compiled ? [cliPath()] : ['--import', 'tsx', path.join(repoRoot(), 'src', 'cli', 'index.ts')];
}
