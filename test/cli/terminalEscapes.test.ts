// A process name is chosen by whoever starts the process: keylog's notices must print it escaped. A real
// stripped Go server run from a file whose name holds ESC/OSC/BEL (its kernel comm), hooked and then stopped.
import assert from 'node:assert/strict';
import { copyFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { requireProbing } from '../probe/harness.js';
import { requireOrSkip } from '../support/env.js';
import { startCli } from '../support/cli.js';
import { loadFixtures, testPki } from '../support/fixtures.js';
import { secretTempDir } from '../support/pki.js';
import { startServer } from '../support/traffic.js';

test('keylog prints a hostile process name escaped', async (t) => {
  if (!requireProbing(t)) return;
  const fixture = loadFixtures({ program: 'tlsserver', arch: 'amd64', mode: 'exe', stripped: true }).at(-1);
  if (!requireOrSkip(t, fixture !== undefined, 'no stripped amd64 fixtures (run npm run setup)')) return;
  const pki = await testPki();
  const evil = path.join(secretTempDir('evil-name'), 'ev\u001b]0;x\u0007\rZ');
  copyFileSync(fixture!.path, evil);
  const server = await startServer(evil, ['-addr', '127.0.0.1:0', '-cert', pki.serverCert, '-key', pki.serverKey]);
  const tool = await startCli(['keylog', '--pid', String(server.child.pid), '-o', '/dev/null'], /gokeylog: hooked/);
  try {
    await server.stop();
    for (let i = 0; i < 200 && !/exited/.test(tool.stderr()); i++) await sleep(50);
  } finally {
    await tool.stop('SIGINT');
  }
  const stderr = tool.stderr();
  assert.match(stderr, /gokeylog: hooked process \d+ \(ev\\e\]0;x\\x07\\rZ\) exited/);
  assert.doesNotMatch(stderr, /[\u0000-\u0009\u000b-\u001f\u007f]/, 'no raw control character');
});
