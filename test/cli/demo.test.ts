import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test, { type TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { cacheDir } from '../../src/util/cache.js';
import { descendants, leftovers } from '../probe/harness.js';
import { isRoot, requireOrSkip } from '../support/env.js';
import { cliArgv } from '../support/paths.js';

const execFileAsync = promisify(execFile);

test('the README\'s demo hooks, captures and analyses a stripped server and names the expiring client certificate', async (t) => {
  if (!demoRuns(t)) return;
  const { stdout } = await execFileAsync(process.execPath, [...cliArgv(), 'demo'], { timeout: 180_000, maxBuffer: 16 << 20 });
  // The scenario's facts, set by the demo's own certificates: worker-1's expires in 2 days, the controller's in a year.
  assert.match(stdout, /^! expires in 4\d h: system:node:worker-1 \[system:nodes\] — client certificate X509SHA256=[0-9a-f]{64} /m);
  assert.doesNotMatch(stdout, /^! .*: system:kube-controller-manager /m);
  assert.match(stdout, /POST\s.*\/apis\/apps\/v1\/namespaces\/default\/deployments\s.*201/);
  assert.match(stdout, /GET\s.*\/api\/v1\/namespaces\/kube-system\/pods\?watch=1\s.*200/);
  assert.doesNotMatch(stdout, /\x1b\[/, 'no terminal colours when stdout is not a terminal');
});

function demoRuns(t: TestContext): boolean {
  return requireOrSkip(t, isRoot(), 'the demo needs root (uprobes, tcpdump)') &&
    requireOrSkip(t, existsSync(path.join(cacheDir(), 'fixtures', 'manifest.json')), 'fixtures not built: run scripts/setup.sh');
}

const demoDirs = (): string[] => readdirSync(os.tmpdir()).filter((n) => n.startsWith('gokeylog-demo-'));

for (const [signal, whom] of [['SIGTERM', 'the demo alone'], ['SIGINT', 'its process group (Ctrl-C)']] as const) {
  test(`${signal} to ${whom} mid-demo stops the server and the capture, and removes the folder of private keys`, { timeout: 300_000 }, async (t) => {
    if (!demoRuns(t)) return;
    const before = new Set(demoDirs());
    const demo = spawn(process.execPath, [...cliArgv(), 'demo'], { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let stdout = '';
    demo.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    let stderr = '';
    demo.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const exit = new Promise<void>((resolve) => demo.once('exit', () => resolve()));
    try {
      // The capture runs once the first client is on its way.
      for (let i = 0; i < 1200 && !/client "kubelet\//.test(stdout) && demo.exitCode === null; i++) await sleep(50);
      assert.match(stdout, /client "kubelet\//, 'the demo reached its capture');
      const ours = demoDirs().filter((d) => !before.has(d));
      assert.equal(ours.length, 1, `one new demo folder: ${ours.join(', ')}`);
      assert.ok(readdirSync(path.join(os.tmpdir(), ours[0]!)).some((f) => f.endsWith('.key')), 'it holds private keys');
      const children = descendants(demo.pid!);
      const capturePid = children.find((p) => readFileSync(`/proc/${p}/cmdline`, 'utf8').includes('\0capture\0'));
      assert.ok(capturePid, 'a capture child runs');
      if (signal === 'SIGINT') process.kill(-demo.pid!, 'SIGINT');
      else demo.kill('SIGTERM');
      await exit;
      assert.equal(existsSync(path.join(os.tmpdir(), ours[0]!)), false, 'the folder is removed');
      // Stopped: a tcpdump may still be releasing its capture buffer in the kernel for a moment (bounded wait).
      for (let i = 0; i < 200 && children.some((p) => existsSync(`/proc/${p}`)); i++) await sleep(50);
      for (const p of children) assert.equal(existsSync(`/proc/${p}`), false, `child ${p} is gone`);
      // The capture removed its probe and trace instance, also when the signal came as the demo was stopping
      // it (two SIGINTs: the demo's and the process group's).
      assert.deepEqual(leftovers(capturePid!), [], `the capture left nothing in tracefs: ${stderr}`);
    } finally {
      if (demo.exitCode === null) process.kill(-demo.pid!, 'SIGKILL');
    }
  });
}

test('demo --keep DIR of an existing folder: DIR and its files are left as they were, the files go to a new folder in it', { timeout: 300_000 }, async (t) => {
  if (!demoRuns(t)) return;
  const keep = mkdtempSync(path.join(os.tmpdir(), 'gokeylog-keep-'));
  try {
    chmodSync(keep, 0o755);
    const mine = path.join(keep, 'mine.txt');
    writeFileSync(mine, 'not the demo\'s\n');
    chmodSync(mine, 0o644);
    const { stdout } = await execFileAsync(process.execPath, [...cliArgv(), 'demo', '--keep', keep], { timeout: 180_000, maxBuffer: 16 << 20 });
    assert.equal(statSync(keep).mode & 0o7777, 0o755);
    assert.equal(statSync(mine).mode & 0o7777, 0o644);
    assert.equal(readFileSync(mine, 'utf8'), 'not the demo\'s\n');
    const made = readdirSync(keep).filter((n) => n.startsWith('gokeylog-demo-'));
    assert.equal(made.length, 1);
    const dir = path.join(keep, made[0]!);
    assert.equal(statSync(dir).mode & 0o777, 0o700);
    assert.equal(statSync(path.join(dir, 'demo.pcapng')).mode & 0o777, 0o600);
    assert.match(stdout, new RegExp(`${dir}/demo\\.pcapng opens decrypted in Wireshark`));
  } finally {
    rmSync(keep, { recursive: true, force: true });
  }
});
