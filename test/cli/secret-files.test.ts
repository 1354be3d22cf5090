// Outputs that hold secrets are made 0600, but only regular files: `-o /dev/null` must neither change
// /dev/null's mode (as root, fchmod would) nor remove it when the run fails. The tests write to a private
// node of the same device (1,3) rather than to /dev/null itself, so that a regression breaks a temporary
// file and not the machine.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { isRoot, requireOrSkip } from '../support/env.js';
import { loadFixtures } from '../support/fixtures.js';
import { cliArgv, repoRoot } from '../support/paths.js';
import { secretTempDir } from '../support/pki.js';
import { runProcess, type ExitedProcess } from '../support/traffic.js';

function gokeylog(args: string[]): Promise<ExitedProcess> {
  return runProcess(process.execPath, [...cliArgv(), ...args], { cwd: repoRoot() });
}

/** A node of /dev/null's device (root only), mode 0666 like /dev/null. */
function privateDevNull(dir: string): string {
  const node = path.join(dir, 'null');
  execFileSync('mknod', [node, 'c', '1', '3']);
  chmodSync(node, 0o666);
  return node;
}

/** What must not change about the device node. */
function nodeState(node: string): { mode: number; device: boolean; rdev: number } | 'removed' {
  const s = statSync(node, { throwIfNoEntry: false });
  return s === undefined ? 'removed' : { mode: s.mode & 0o7777, device: s.isCharacterDevice(), rdev: s.rdev };
}

/** An empty classic pcap (global header only, LINKTYPE_ETHERNET): valid input with no packets. */
function emptyPcap(file: string): void {
  const header = Buffer.alloc(24);
  header.writeUInt32LE(0xa1b2c3d4, 0);
  header.writeUInt16LE(2, 4);
  header.writeUInt16LE(4, 6);
  header.writeUInt32LE(65535, 16);
  header.writeUInt32LE(1, 20);
  writeFileSync(file, header);
}

test('keylog -o /dev/null writes there and leaves the device as it was', async (t) => {
  if (!requireOrSkip(t, isRoot(), 'making a device node and changing it both need root')) return;
  const server = loadFixtures({ program: 'tlsserver', arch: 'amd64', mode: 'exe', stripped: true })[0];
  if (!requireOrSkip(t, server !== undefined, 'no tlsserver fixture (run scripts/setup.sh)')) return;
  const node = privateDevNull(secretTempDir('devnull'));
  // --exe hooks the binary even with no process running it: the output is opened, the run ends by --duration.
  const r = await gokeylog(['keylog', '--exe', server!.path, '-o', node, '--duration', '1']);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(nodeState(node), { mode: 0o666, device: true, rdev: statSync('/dev/null').rdev });
});

test('inject -o /dev/null neither chmods /dev/null when it succeeds nor removes it when it fails', async (t) => {
  if (!requireOrSkip(t, isRoot(), 'making a device node and changing it both need root')) return;
  const dir = secretTempDir('devnull');
  const node = privateDevNull(dir);
  const keys = path.join(dir, 'k.log');
  writeFileSync(keys, `CLIENT_RANDOM ${'11'.repeat(32)} ${'22'.repeat(48)}\n`, { mode: 0o600 });
  const capture = path.join(dir, 'empty.pcap');
  emptyPcap(capture);
  const notCapture = path.join(dir, 'not-a-capture');
  writeFileSync(notCapture, 'hello, this is not a capture at all');
  const before = nodeState(node);
  assert.deepEqual(before, { mode: 0o666, device: true, rdev: statSync('/dev/null').rdev });

  const ok = await gokeylog(['inject', '--keylog', keys, capture, '-o', node]);
  assert.equal(ok.code, 0, ok.stderr);
  assert.deepEqual(nodeState(node), before);

  const failed = await gokeylog(['inject', '--keylog', keys, notCapture, '-o', node]);
  assert.equal(failed.code, 3, failed.stderr);
  assert.deepEqual(nodeState(node), before);
});

test('inject -o FILE makes an existing wider file 0600', async () => {
  const dir = secretTempDir('secret-out');
  const keys = path.join(dir, 'k.log');
  writeFileSync(keys, `CLIENT_RANDOM ${'11'.repeat(32)} ${'22'.repeat(48)}\n`, { mode: 0o600 });
  const capture = path.join(dir, 'empty.pcap');
  emptyPcap(capture);
  const out = path.join(dir, 'out.pcapng');
  writeFileSync(out, 'old', { mode: 0o644 });
  const r = await gokeylog(['inject', '--keylog', keys, capture, '-o', out]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(statSync(out).mode & 0o777, 0o600);
});

test('keylog and bpftrace --help show examples and exit codes', async () => {
  for (const command of ['keylog', 'bpftrace']) {
    const r = await gokeylog([command, '--help']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`\\nExamples:\\n  gokeylog ${command} `));
    assert.match(r.stdout, /Exit codes: 0 ok, 1 failure[^]*2 usage,\s+3 [^]*4 writeKeyLog not found/);
  }
});
