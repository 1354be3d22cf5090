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

test('chooseNetns: each target namespace once (ours is host), only ours with --host-netns, gone targets refused', async (t) => {
  if (!requireOrSkip(t, isRoot() && commandExists('unshare') && commandExists('lsns'), 'needs root, unshare and lsns')) return;
  // A process in a network namespace of its own, as a Pod's would be.
  const other = spawn('unshare', ['--net', 'sleep', '60'], { stdio: 'ignore' });
  try {
    const pid = other.pid!;
    for (let i = 0; i < 100 && (await lsnsNetns(pid)) === (await lsnsNetns(process.pid)); i++) await sleep(20);
    const ns = await lsnsNetns(pid);
    assert.notEqual(ns, await lsnsNetns(process.pid));

    const host = { id: `net:[${await lsnsNetns(process.pid)}]`, pid: undefined, description: 'host' };
    const theirs = { id: `net:[${ns}]`, pid, description: `net:[${ns}] of pid ${pid}` };
    assert.deepEqual(chooseNetns([pid], false), [theirs]);
    assert.deepEqual(chooseNetns([process.pid], false), [host]);
    assert.deepEqual(chooseNetns([pid], true), [host]);
    assert.deepEqual(chooseNetns([], false), [host]);
    // One tcpdump per namespace, in the order of the targets; one per namespace however many targets share it.
    assert.deepEqual(chooseNetns([pid, process.pid, pid], false), [theirs, host]);
    assert.deepEqual(chooseNetns([process.pid, pid], false), [host, theirs]);
    assert.deepEqual(chooseNetns([pid, process.pid], true), [host]);
    assert.throws(() => chooseNetns([0x7ffffffe], false), (err: unknown) => {
      assert.ok(err instanceof GokeylogError);
      assert.equal(err.exitCode, ExitCode.notFound);
      assert.match(err.message, /^the target processes \(pid 2147483646\) are gone\.$/);
      return true;
    });
  } finally {
    other.kill('SIGKILL');
  }
});
