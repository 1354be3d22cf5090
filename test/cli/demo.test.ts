import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import test from 'node:test';
import { promisify } from 'node:util';
import { cacheDir } from '../../src/util/cache.js';
import { isRoot, requireOrSkip } from '../support/env.js';
import { cliArgv } from '../support/paths.js';

const execFileAsync = promisify(execFile);

test('the README\'s demo hooks, captures and analyses a stripped server and names the expiring client certificate', async (t) => {
  if (!requireOrSkip(t, isRoot(), 'the demo needs root (uprobes, tcpdump)')) return;
  if (!requireOrSkip(t, existsSync(path.join(cacheDir(), 'fixtures', 'manifest.json')), 'fixtures not built: run scripts/setup.sh')) return;
  const { stdout } = await execFileAsync(process.execPath, [...cliArgv(), 'demo'], { timeout: 180_000, maxBuffer: 16 << 20 });
  // The scenario's facts, set by the demo's own certificates: worker-1's expires in 2 days, the controller's in a year.
  assert.match(stdout, /client certificate of system:node:worker-1 expires in [12] days?/);
  assert.doesNotMatch(stdout, /system:kube-controller-manager expires/);
  assert.match(stdout, /POST\s.*\/apis\/apps\/v1\/namespaces\/default\/deployments\s.*201/);
  assert.match(stdout, /GET\s.*\/api\/v1\/namespaces\/kube-system\/pods\?watch=1\s.*200/);
  assert.doesNotMatch(stdout, /\x1b\[/, 'no terminal colours when stdout is not a terminal');
});
