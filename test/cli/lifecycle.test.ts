// How a live run begins and ends (issue 12, item 7): a --duration longer than setTimeout's 24.8 days is a
// long run, not one that stops at once; a hooked process that exits is said so; inspect on a FIFO does not
// wait for a writer.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { leftovers, missingFrom, probingFixtures, readKeyLogSet } from '../probe/harness.js';
import { startCli } from '../support/cli.js';
import { cliArgv, repoRoot } from '../support/paths.js';
import { secretTempDir, testPki } from '../support/pki.js';
import { runProcess, runTraffic, startServer } from '../support/traffic.js';

test('keylog --duration of 25.5 days keeps running (it stopped after 1 ms) until Ctrl-C', async (t) => {
  const f = probingFixtures(t);
  if (!f) return;
  const out = path.join(secretTempDir('long'), 'keys.log');
  const tool = await startCli(['keylog', '--exe', f.server.path, '-o', out, '--duration', String(25.5 * 86400)], /gokeylog: hooked/);
  try {
    const traffic = await runTraffic({ server: f.server, client: f.client, requests: 1, conns: 1 });
    const truth = readKeyLogSet(traffic.clientKeyLog);
    for (let i = 0; i < 200 && missingFrom(truth, readKeyLogSet(out)).length > 0; i++) await sleep(50);
    assert.equal(tool.child.exitCode, null, `still running after the handshakes: ${tool.stderr()}`);
    assert.deepEqual(missingFrom(truth, readKeyLogSet(out)), []);
    assert.equal(await tool.stop('SIGINT'), 0, tool.stderr());
    assert.match(tool.stderr(), /\d+ keys written/);
  } finally {
    tool.child.kill('SIGKILL');
  }
});

test('keylog --pid says when the hooked process exits, and removes its probe', async (t) => {
  const f = probingFixtures(t);
  if (!f) return;
  const pki = await testPki();
  const server = await startServer(f.server.path, ['-addr', '127.0.0.1:0', '-cert', pki.serverCert, '-key', pki.serverKey]);
  const pid = server.child.pid!;
  const tool = await startCli(['keylog', '--pid', String(pid)], /gokeylog: hooked/);
  try {
    await server.stop();
    for (let i = 0; i < 200 && !/exited/.test(tool.stderr()); i++) await sleep(50);
    assert.match(tool.stderr(), new RegExp(`gokeylog: hooked process ${pid} \\(${path.basename(f.server.path).slice(0, 15)}\\) exited; no hooked process is left: stop with Ctrl-C\\n`));
    assert.match(tool.stderr(), /gokeylog: unhooked wkl0: no selected process runs that binary any more\n/);
    assert.equal(await tool.stop('SIGINT'), 0, tool.stderr());
    assert.deepEqual(leftovers(tool.child.pid!), []);
  } finally {
    tool.child.kill('SIGKILL');
    await server.stop();
  }
});

test('inspect on a FIFO says it is not a regular file (exit 3) instead of waiting for a writer', async () => {
  const fifo = path.join(secretTempDir('fifo'), 'binary');
  execFileSync('mkfifo', [fifo]);
  const r = await runProcess(process.execPath, [...cliArgv(), 'inspect', fifo], { cwd: repoRoot(), timeoutMs: 60_000 });
  assert.equal(r.code, 3, r.stderr);
  assert.equal(r.stderr, `gokeylog: ${fifo} is not a regular file.\n`);
});

// A second signal while a command removes its probes (a Ctrl-C to the process group just as the parent, the
// demo, stops its capture with SIGINT) met Node's default action once the session had dropped its listener:
// the capture died in the middle of the removal and left its probe and trace instance (issue 12 note).
test('capture given a second SIGINT while it stops still removes its probe and trace instance and prints its summary', async (t) => {
  const f = probingFixtures(t);
  if (!f) return;
  const pki = await testPki();
  const server = await startServer(f.server.path, ['-addr', '127.0.0.1:0', '-cert', pki.serverCert, '-key', pki.serverKey]);
  const dir = secretTempDir('twice');
  const tool = await startCli(['capture', '--pid', String(server.child.pid), '-f', `tcp port ${server.port}`, '-w', path.join(dir, 'c.pcapng')], /gokeylog: capturing on/);
  try {
    tool.child.kill('SIGINT');
    // The removal takes ~100 ms of tracefs writes: the second signal lands in it (or in the stop after it).
    await sleep(20);
    tool.child.kill('SIGINT');
    const code = await tool.exit;
    assert.equal(tool.child.signalCode, null, `not killed by the second SIGINT: ${tool.stderr()}`);
    assert.equal(code, 0, tool.stderr());
    assert.match(tool.stderr(), /gokeylog: captured \d+ packets? .*stopped by signal\./);
    assert.deepEqual(leftovers(tool.child.pid!), []);
  } finally {
    tool.child.kill('SIGKILL');
    await server.stop();
  }
});

// A parent that goes away closes the pipe of the command's stderr: the next notice or summary fails with EPIPE.
test('keylog whose stderr reader has gone still stops on SIGINT, removes its probe and exits 0', async (t) => {
  const f = probingFixtures(t);
  if (!f) return;
  const pki = await testPki();
  const server = await startServer(f.server.path, ['-addr', '127.0.0.1:0', '-cert', pki.serverCert, '-key', pki.serverKey]);
  const tool = await startCli(['keylog', '--pid', String(server.child.pid)], /gokeylog: hooked/);
  try {
    tool.child.stderr!.destroy();
    assert.equal(await tool.stop('SIGINT'), 0);
    assert.deepEqual(leftovers(tool.child.pid!), []);
  } finally {
    tool.child.kill('SIGKILL');
    await server.stop();
  }
});
