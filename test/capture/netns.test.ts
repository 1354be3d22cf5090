// Which network namespace capture enters, with lsns (util-linux) as the referee for namespace ids.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { chooseNetns } from '../../src/capture/index.js';
import { ExitCode, GokeylogError } from '../../src/util/errors.js';
import { isRoot, requireOrSkip } from '../support/env.js';
import { commandExists, spawnChecked } from '../support/traffic.js';

/** The inode number of a process's network namespace, as lsns reports it. */
async function lsnsNetns(pid: number): Promise<string> {
  const { stdout } = await spawnChecked('lsns', ['-t', 'net', '-p', String(pid), '-n', '-o', 'NS']);
  return stdout.trim();
}

test('chooseNetns: the target\'s own namespace, ours for host targets or --host-netns, a refusal for several', async (t) => {
  if (!requireOrSkip(t, isRoot() && commandExists('unshare') && commandExists('lsns'), 'needs root, unshare and lsns')) return;
  // A process in a network namespace of its own, as a Pod's would be.
  const other = spawn('unshare', ['--net', 'sleep', '60'], { stdio: 'ignore' });
  try {
    const pid = other.pid!;
    for (let i = 0; i < 100 && (await lsnsNetns(pid)) === (await lsnsNetns(process.pid)); i++) await sleep(20);
    const ns = await lsnsNetns(pid);
    assert.notEqual(ns, await lsnsNetns(process.pid));

    assert.deepEqual(chooseNetns([pid], false), { pid, description: `net:[${ns}] of pid ${pid}` });
    assert.deepEqual(chooseNetns([process.pid], false), { pid: undefined, description: 'host' });
    assert.deepEqual(chooseNetns([pid], true), { pid: undefined, description: 'host' });
    assert.deepEqual(chooseNetns([], false), { pid: undefined, description: 'host' });
    assert.throws(() => chooseNetns([pid, process.pid], false), (err: unknown) => {
      assert.ok(err instanceof GokeylogError);
      assert.equal(err.exitCode, ExitCode.usage);
      assert.match(err.message, /2 network namespaces .*--host-netns\.$/);
      assert.ok(err.message.includes(String(pid)) && err.message.includes(String(process.pid)));
      return true;
    });
    assert.deepEqual(chooseNetns([pid, process.pid], true), { pid: undefined, description: 'host' });
  } finally {
    other.kill('SIGKILL');
  }
});
