// Runs `gokeylog analyze` as a user would: the built CLI when the tests run compiled (dist/test),
// the TypeScript sources through tsx when they run from test/.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { cliPath, repoRoot } from '../support/paths.js';
import { runProcess, type ExitedProcess } from '../support/traffic.js';

export function runAnalyze(args: string[]): Promise<ExitedProcess> {
  const fromSources = fileURLToPath(import.meta.url).endsWith('.ts');
  const [command, prefix] = fromSources
    ? [process.execPath, ['--import', 'tsx', path.join(repoRoot(), 'src', 'cli', 'index.ts')]]
    : [cliPath(), []];
  return runProcess(command, [...prefix, 'analyze', ...args], { timeoutMs: 120_000 });
}
