// The tcpdump runner against the real tcpdump: its counters against tshark's count of what it wrote, its
// refusals as one sentence, and the kernel killing it when its parent dies (setpriv --pdeathsig).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createWriteStream, existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { finished } from 'node:stream/promises';
import { test, type TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Tcpdump, tcpdumpCommand } from '../../src/capture/index.js';
import { GokeylogError } from '../../src/util/errors.js';
import { isRoot, requireOrSkip } from '../support/env.js';
import { loadFixtures, testPki } from '../support/fixtures.js';
import { secretTempDir } from '../support/pki.js';
import { commandExists, spawnChecked, startServer, tsharkFields } from '../support/traffic.js';

function canCapture(t: TestContext): boolean {
  return requireOrSkip(t, isRoot() && ['tcpdump', 'tshark', 'setpriv'].every(commandExists), 'needs root, tcpdump, tshark and setpriv');
}

const alive = (pid: number): boolean => existsSync(`/proc/${pid}`) && !/^State:\s+Z/m.test(safeRead(`/proc/${pid}/status`));

function safeRead(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

test('Tcpdump streams pcap of real TLS traffic; "N packets captured" equals the packets tshark reads from its output', async (t) => {
  if (!canCapture(t)) return;
  const server = loadFixtures({ program: 'tlsserver', arch: 'amd64', mode: 'exe', stripped: true }).at(-1);
  const client = loadFixtures({ program: 'tlsclient', arch: 'amd64', mode: 'exe', stripped: true }).at(-1);
  if (!requireOrSkip(t, server !== undefined && client !== undefined, 'no Go fixtures (npm run setup)')) return;
  const pki = await testPki();
  const dir = secretTempDir('tcpdump');
  const file = path.join(dir, 'out.pcap');
  const running = await startServer(server!.path, ['-addr', '127.0.0.1:0', '-cert', pki.serverCert, '-key', pki.serverKey]);
  try {
    const tcpdump = await Tcpdump.start({ iface: 'lo', filter: `tcp port ${running.port}` });
    const saved = finished(tcpdump.output.pipe(createWriteStream(file, { mode: 0o600 })));
    await spawnChecked(client!.path, ['-url', `https://127.0.0.1:${running.port}/`, '-ca', pki.caCert, '-n', '4', '-conns', '2']).finally(() => tcpdump.stop());
    const stats = await tcpdump.stop();
    await saved;
    const frames = await tsharkFields(file, { fields: ['frame.number'] });
    assert.ok(frames.length > 0);
    assert.equal(stats.captured, frames.length);
    assert.equal(stats.droppedByKernel, 0);
    assert.ok(stats.receivedByFilter !== null && stats.receivedByFilter >= frames.length);
    assert.equal(await tcpdump.exited, 0);
  } finally {
    await running.stop();
  }
});

test('a filter tcpdump rejects, or an interface that does not exist, is one clear sentence and leaves nothing running', async (t) => {
  if (!canCapture(t)) return;
  for (const [opts, expected] of [
    [{ iface: 'lo', filter: 'tcp port nonsense' }, /^tcpdump could not start: .*nonsense.*\.$/],
    [{ iface: 'gkl-no-such-if0' }, /^tcpdump could not start: .*gkl-no-such-if0.*\.$/],
  ] as const) {
    await assert.rejects(Tcpdump.start(opts), (err: unknown) => {
      assert.ok(err instanceof GokeylogError);
      assert.match(err.message, expected);
      assert.doesNotMatch(err.message, /\n/);
      return true;
    });
  }
  const { stdout } = await spawnChecked('ps', ['-eo', 'args=']);
  assert.ok(!stdout.includes('gkl-no-such-if0') && !stdout.includes('port nonsense'), 'no tcpdump left behind');
});

test('tcpdump dies with its parent even when the parent is killed with SIGKILL', async (t) => {
  if (!canCapture(t)) return;
  const command = tcpdumpCommand({ iface: 'lo', filter: 'tcp port 9' });
  // A parent that starts the command exactly as Tcpdump does, says its pid, and is then killed -9.
  const quoted = command.map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  const parent = spawn('bash', ['-c', `${quoted} >/dev/null 2>&1 & echo $!; wait`], { stdio: ['ignore', 'pipe', 'ignore'] });
  const pid = await new Promise<number>((resolve) => parent.stdout!.once('data', (d: Buffer) => resolve(Number(d.toString().trim()))));
  for (let i = 0; i < 100 && !safeRead(`/proc/${pid}/cmdline`).startsWith('tcpdump'); i++) await sleep(50);
  assert.ok(safeRead(`/proc/${pid}/cmdline`).startsWith('tcpdump'), 'tcpdump runs');
  parent.kill('SIGKILL');
  for (let i = 0; i < 100 && alive(pid); i++) await sleep(50);
  assert.equal(alive(pid), false, 'the kernel killed tcpdump with its parent');
});
