// Outputs that hold secrets are new 0600 files of our own; what was there before is never chmodded or truncated:
// `-o /dev/null` must neither change /dev/null's mode (as root, fchmod would) nor remove it when the run fails,
// and a link or a file planted by another user (the attacks of issue 12) is refused. The tests write to a private
// node of the same device (1,3) rather than to /dev/null itself, so that a regression breaks a temporary
// file and not the machine.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, linkSync, lstatSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { isRoot, requireOrSkip } from '../support/env.js';
import { loadFixtures } from '../support/fixtures.js';
import { cliArgv, repoRoot } from '../support/paths.js';
import { secretTempDir } from '../support/pki.js';
import { runProcess, type ExitedProcess } from '../support/traffic.js';
import { createOtherUser, stickyTempDir } from '../support/users.js';
import { pcapHeader } from '../pcap/handBuilt.js';

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
  writeFileSync(file, pcapHeader(true, false, 1));
}

/** A key log, a valid empty capture and a file that is no capture, for inject. */
function injectInputs(dir: string): { keys: string; capture: string; notCapture: string } {
  const keys = path.join(dir, 'k.log');
  writeFileSync(keys, `CLIENT_RANDOM ${'11'.repeat(32)} ${'22'.repeat(48)}\n`, { mode: 0o600 });
  const capture = path.join(dir, 'empty.pcap');
  emptyPcap(capture);
  const notCapture = path.join(dir, 'not-a-capture');
  writeFileSync(notCapture, 'hello, this is not a capture at all');
  return { keys, capture, notCapture };
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
  const { keys, capture, notCapture } = injectInputs(dir);
  const before = nodeState(node);
  assert.deepEqual(before, { mode: 0o666, device: true, rdev: statSync('/dev/null').rdev });

  const ok = await gokeylog(['inject', '--keylog', keys, capture, '-o', node]);
  assert.equal(ok.code, 0, ok.stderr);
  assert.deepEqual(nodeState(node), before);

  const failed = await gokeylog(['inject', '--keylog', keys, notCapture, '-o', node]);
  assert.equal(failed.code, 3, failed.stderr);
  assert.deepEqual(nodeState(node), before);
});

/** Every command that writes a secret output, with that output at `out` (the other arguments are valid or fail later). */
function secretWriters(dir: string, out: string): { name: string; args: string[] }[] {
  const { keys, capture } = injectInputs(dir);
  const other = path.join(dir, `other-${Math.random().toString(36).slice(2)}`);
  // keylog and capture open their outputs before they look at the target (/bin/true is not Go: they fail after).
  return [
    { name: 'keylog -o', args: ['keylog', '--exe', '/bin/true', '-o', out] },
    { name: 'capture --keylog', args: ['capture', '--exe', '/bin/true', '-w', other, '--keylog', out] },
    { name: 'capture -w', args: ['capture', '--exe', '/bin/true', '-w', out] },
    { name: 'inject -o', args: ['inject', '--keylog', keys, capture, '-o', out] },
    { name: 'analyze --html', args: ['analyze', capture, '--html', out] },
  ];
}

interface FileState { ino: number; uid: number; mode: number; text: string }
function fileState(file: string): FileState {
  const s = statSync(file);
  return { ino: s.ino, uid: s.uid, mode: s.mode & 0o7777, text: readFileSync(file, 'utf8') };
}

test('no secret output follows a symbolic link: the link\'s target keeps its content and mode', async () => {
  const dir = secretTempDir('symlink-out');
  const victim = path.join(dir, 'victim.txt');
  writeFileSync(victim, 'the victim file\n', { mode: 0o644 });
  chmodSync(victim, 0o644);
  const link = path.join(dir, 'out');
  symlinkSync(victim, link);
  const before = fileState(victim);
  for (const { name, args } of secretWriters(dir, link)) {
    const r = await gokeylog(args);
    assert.equal(r.code, 1, `${name}: ${r.stderr}`);
    assert.match(r.stderr, /^gokeylog: refusing to write .* to .*\/out: it is a symbolic link \(give the path of a real file\)\.\n$/, name);
    assert.deepEqual(fileState(victim), before, name);
    assert.equal(lstatSync(link).isSymbolicLink(), true, `${name} left the link in place`);
    assert.deepEqual(readdirSync(dir).filter((f) => f.includes('gokeylog-')), [], `${name} left no file of its own`);
  }
});

test('a file another user pre-created in a 1777 directory is never written to, truncated or chmodded', async (t) => {
  if (!requireOrSkip(t, isRoot(), 'creating another user needs root')) return;
  const attacker = createOtherUser();
  const dir = stickyTempDir('gokeylog-sticky');
  const planted = path.join(dir, 'keys.log');
  // The attacker makes the file root is about to write its secrets to, readable by everyone.
  attacker.sh(`umask 0; printf 'planted\\n' > ${planted}`);
  const before = fileState(planted);
  assert.equal(before.uid, attacker.uid);
  assert.equal(before.mode, 0o666);
  for (const { name, args } of secretWriters(secretTempDir('inputs'), planted)) {
    const r = await gokeylog(args);
    assert.equal(r.code, 1, `${name}: ${r.stderr}`);
    assert.match(r.stderr, new RegExp(`^gokeylog: refusing to write .* to ${planted}: it exists and belongs to another user \\(uid ${attacker.uid}\\)\\.\\n$`), name);
    assert.deepEqual(fileState(planted), before, name);
  }
});

test('keylog -o appends only to a key log of mode 0600: a wider one of our own is refused and left as it was', async () => {
  const dir = secretTempDir('wide-keylog');
  const wide = path.join(dir, 'keys.log');
  writeFileSync(wide, 'old\n');
  chmodSync(wide, 0o644);
  const before = fileState(wide);
  const r = await gokeylog(['keylog', '--exe', '/bin/true', '-o', wide]);
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /other users can open it \(mode 0644\); make it 0600 or name a new file\.\n$/);
  assert.deepEqual(fileState(wide), before);
});

test('a failed inject leaves an existing -o exactly as it was; a successful one replaces it by a new 0600 file', async () => {
  const dir = secretTempDir('secret-out');
  const { keys, capture, notCapture } = injectInputs(dir);
  const out = path.join(dir, 'out.pcapng');
  writeFileSync(out, 'old', { mode: 0o644 });
  chmodSync(out, 0o644);
  // A second name of the old file: whoever held it must never see the new secrets nor lose the old bytes.
  const otherName = path.join(dir, 'old-copy');
  linkSync(out, otherName);
  const before = fileState(out);

  const failed = await gokeylog(['inject', '--keylog', keys, notCapture, '-o', out]);
  assert.equal(failed.code, 3, failed.stderr);
  assert.deepEqual(fileState(out), before);

  const ok = await gokeylog(['inject', '--keylog', keys, capture, '-o', out]);
  assert.equal(ok.code, 0, ok.stderr);
  const after = statSync(out);
  assert.notEqual(after.ino, before.ino, 'a new file');
  assert.equal(after.mode & 0o777, 0o600);
  assert.equal(readFileSync(out).readUInt32LE(0), 0x0a0d0d0a, 'a pcapng section header block');
  assert.deepEqual(fileState(otherName), { ...before }, 'the old file is untouched');
  assert.deepEqual(readdirSync(dir).filter((f) => f.includes('gokeylog-')), [], 'no temporary file left');
});

test('capture -w X --keylog X is refused before anything is opened', async () => {
  const dir = secretTempDir('same-out');
  const same = path.join(dir, 'both');
  const r = await gokeylog(['capture', '--exe', '/bin/true', '-w', same, '--keylog', path.join(dir, '.', 'both')]);
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /--keylog .* is the capture file -w .*: give two files\./);
  assert.deepEqual(readdirSync(dir), []);
});

test('keylog and bpftrace --help show examples and exit codes', async () => {
  for (const command of ['keylog', 'bpftrace']) {
    const r = await gokeylog([command, '--help']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`\\nExamples:\\n  gokeylog ${command} `));
    assert.match(r.stdout, /Exit codes: 0 ok, 1 failure[^]*2 usage,\s+3 [^]*4 writeKeyLog not found/);
  }
});
