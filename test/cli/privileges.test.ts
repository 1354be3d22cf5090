// The first things a new user meets: keylog without root says why and what to do; a PID that is no Go program
// is named by its program; a capture filter with a typo is refused before any probe is attached.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { test } from 'node:test';
import { isRoot, requireOrSkip } from '../support/env.js';
import { loadFixtures, testPki } from '../support/fixtures.js';
import { cliArgv } from '../support/paths.js';
import { commandExists, runProcess, startServer } from '../support/traffic.js';

const gokeylog = (args: string[], asUser?: string) =>
  asUser
    ? runProcess('setpriv', ['--reuid', asUser, '--regid', 'nogroup', '--clear-groups', process.execPath, ...cliArgv(), ...args], { cwd: '/tmp' })
    : runProcess(process.execPath, [...cliArgv(), ...args]);

test('keylog and capture without root say that hooking needs root and suggest sudo', async (t) => {
  if (!requireOrSkip(t, isRoot() && commandExists('setpriv'), 'dropping to an unprivileged user needs root and setpriv')) return;
  for (const args of [['keylog', '--pid', '1'], ['capture', '--pid', '1', '-w', '-']]) {
    const r = await gokeylog(args, 'nobody');
    assert.equal(r.code, 1, r.stderr);
    assert.equal(r.stderr, 'gokeylog: hooking other programs needs root (tracefs uprobes need CAP_SYS_ADMIN, reading other processes CAP_SYS_PTRACE) and this process lacks CAP_SYS_ADMIN and CAP_SYS_PTRACE: run gokeylog with sudo.\n');
  }
});

test('a process that is no Go program is named by its program, not /proc/PID/exe', async (t) => {
  if (!requireOrSkip(t, isRoot(), 'reading another process\'s executable needs root')) return;
  const sleeper = spawn('sleep', ['30'], { stdio: 'ignore' });
  try {
    const r = await gokeylog(['keylog', '--pid', String(sleeper.pid), '-o', '/dev/null']);
    assert.equal(r.code, 3);
    assert.match(r.stderr, new RegExp(`^gokeylog: pid ${sleeper.pid} \\(sleep, /usr/bin/sleep\\) is not a Go binary \\(it has no Go build info and no pclntab\\)\\.\\n$`));
  } finally {
    sleeper.kill();
  }
});

test('capture refuses a bad -f filter before it attaches anything', async (t) => {
  const server = loadFixtures({ program: 'tlsserver', arch: 'amd64', mode: 'exe', stripped: true }).at(-1);
  if (!requireOrSkip(t, isRoot() && commandExists('tcpdump'), 'capture needs root and tcpdump')) return;
  if (!requireOrSkip(t, server !== undefined, 'Go fixtures not built (npm run setup)')) return;
  const pki = await testPki();
  const running = await startServer(server!.path, ['-addr', '127.0.0.1:0', '-cert', pki.serverCert, '-key', pki.serverKey]);
  try {
    const r = await gokeylog(['capture', '--pid', String(running.child.pid), '-w', '/dev/null', '-f', 'tcp port nonsense']);
    assert.equal(r.code, 2);
    // tcpdump's own verdict, and not a word about hooking: nothing was attached.
    assert.equal(r.stderr, 'gokeylog: the capture filter "tcp port nonsense" is not valid: unknown port \'nonsense\'.\nSee \'gokeylog capture --help\'.\n');
  } finally {
    await running.stop();
  }
});
