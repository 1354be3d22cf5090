// A reader that goes away (`gokeylog analyze --help | head -1`, `| true`) must not turn into a stack trace:
// the CLI ends quietly with the exit code the command had.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { test } from 'node:test';
import { requireOrSkip } from '../support/env.js';
import { loadFixtures } from '../support/fixtures.js';
import { cliArgv, repoRoot } from '../support/paths.js';

/** Runs the CLI with its stdout pipe closed by the reader before the CLI writes anything. */
function runIntoClosedPipe(args: string[]): Promise<{ code: number | null; signal: string | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...cliArgv(), ...args], { cwd: repoRoot(), stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.destroy();
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.once('error', reject);
    child.once('close', (code, signal) => resolve({ code, signal, stderr }));
  });
}

for (const args of [['--help'], ...['inspect', 'keylog', 'bpftrace', 'capture', 'inject', 'analyze'].map((c) => [c, '--help'])]) {
  test(`gokeylog ${args.join(' ')} into a closed pipe exits 0 with nothing on stderr`, async () => {
    const r = await runIntoClosedPipe(args);
    assert.deepEqual(r, { code: 0, signal: null, stderr: '' });
  });
}

test('inspect --json into a closed pipe: the report is dropped, the exit code stays 0, nothing on stderr', async (t) => {
  const fixture = loadFixtures({ program: 'tlsserver', arch: 'amd64', mode: 'exe' }).at(-1);
  if (!requireOrSkip(t, fixture !== undefined, 'Go fixtures not built (npm run setup)')) return;
  assert.deepEqual(await runIntoClosedPipe(['inspect', '--json', fixture!.path]), { code: 0, signal: null, stderr: '' });
});
