// Runs `gokeylog analyze` as a user would: the built CLI when the tests run compiled (dist/test),
// the TypeScript sources through tsx when they run from test/.
import { cliArgv } from '../support/paths.js';
import { runProcess, type ExitedProcess } from '../support/traffic.js';

export function runAnalyze(args: string[]): Promise<ExitedProcess> {
  return runProcess(process.execPath, [...cliArgv(), 'analyze', ...args], { timeoutMs: 120_000 });
}
