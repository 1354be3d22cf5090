import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { requireOrSkip } from '../support/env.js';
import { fileOffsetFromSegments, readelfSegments } from '../support/readelf.js';
import { loadFixtures, type GoFixture } from '../support/fixtures.js';
import { startCli, type RunningCli } from '../support/cli.js';
import { cliArgv } from '../support/paths.js';
import { secretTempDir, testPki } from '../support/pki.js';
import { runTraffic, spawnChecked, startServer } from '../support/traffic.js';
import { keyLogSet, leftovers, missingFrom, privateCopy, readKeyLogSet, requireProbing } from '../probe/harness.js';

function cli(args: string[]): [string, string[]] {
  return [process.execPath, [...cliArgv(), ...args]];
}

/** Starts `gokeylog keylog …` and waits until it has hooked (its "hooked" notice). */
const startKeylog = (args: string[]): Promise<RunningCli> => startCli(['keylog', ...args], /gokeylog: hooked/);

function fixtures(t: TestContext): { server: GoFixture; client: GoFixture; oldest: GoFixture } | undefined {
  if (!requireProbing(t)) return undefined;
  const servers = loadFixtures({ program: 'tlsserver', arch: 'amd64', mode: 'exe', stripped: true });
  const client = loadFixtures({ program: 'tlsclient', arch: 'amd64', mode: 'exe', stripped: true }).at(-1);
  if (!requireOrSkip(t, servers.length > 0 && client !== undefined, 'no stripped amd64 fixtures (run npm run setup)')) return undefined;
  return { server: privateCopy(servers.at(-1)!), client: client!, oldest: privateCopy(servers[0]!) };
}

for (const [signal, reader] of [['SIGINT', 'raw'], ['SIGTERM', 'text']] as const) {
  test(`keylog --exe (${reader} tracefs reader) catches a server started after it, writes a 0600 key log equal to the client's, and cleans up on ${signal}`, async (t) => {
    const f = fixtures(t);
    if (!f) return;
    const out = path.join(secretTempDir('cli'), 'keys.log');
    const tool = await startKeylog(['--exe', f.server.path, '-o', out, '--tracefs-reader', reader]);
    try {
      const traffic = await runTraffic({ server: f.server, client: f.client, requests: 3, conns: 3 });
      const truth = readKeyLogSet(traffic.clientKeyLog);
      // The tool writes as it reads; wait (bounded) for the last line rather than for a fixed time.
      for (let i = 0; i < 200 && missingFrom(truth, readKeyLogSet(out)).length > 0; i++) await sleep(50);
      tool.child.kill(signal);
      assert.equal(await tool.exit, 0, tool.stderr());
      assert.equal(statSync(out).mode & 0o777, 0o600);
      assert.deepEqual(readKeyLogSet(out), truth);
      assert.match(tool.stderr(), /1 process in 1 binary hooked \(tracefs\); 12 keys written, \d+ duplicates? dropped, 0 rejected, 0 lost/);
      assert.deepEqual(leftovers(tool.child.pid!), []);
    } finally {
      tool.child.kill('SIGKILL');
    }
  });
}

test('after kill -9 the next run removes the leftovers and says so', async (t) => {
  const f = fixtures(t);
  if (!f) return;
  const tool = await startKeylog(['--exe', f.server.path]);
  tool.child.kill('SIGKILL');
  await tool.exit;
  assert.notDeepEqual(leftovers(tool.child.pid!), [], 'kill -9 leaves the probe behind (else this test proves nothing)');
  const [command, argv] = cli(['keylog', '--exe', f.server.path, '--duration', '0.2']);
  const { stderr } = await spawnChecked(command, argv);
  assert.match(stderr, new RegExp(`removed trace instance gokeylog_${tool.child.pid}_\\d+_\\d+ left behind by a run that died`));
  assert.match(stderr, new RegExp(`removed uprobe gokeylog_${tool.child.pid}_\\d+_\\d+/wkl0 left behind by a run that died`));
  assert.deepEqual(leftovers(tool.child.pid!), []);
});

test('keylog --json prints pid, command, time and label per key, never the secret', async (t) => {
  const f = fixtures(t);
  if (!f) return;
  const tool = await startKeylog(['--exe', f.server.path, '--json']);
  try {
    const traffic = await runTraffic({ server: f.server, client: f.client, tls: '1.2' });
    const truth = [...readKeyLogSet(traffic.clientKeyLog)];
    for (let i = 0; i < 200 && tool.stdout().toString('utf8').split('\n').length <= truth.length; i++) await sleep(50);
    tool.child.kill('SIGINT');
    assert.equal(await tool.exit, 0);
    const records = tool.stdout().toString('utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.equal(records.length, 1);
    const [label, random, secret] = truth[0]!.split(' ');
    assert.equal(records[0]!.label, label);
    assert.equal(records[0]!.clientRandom, random);
    assert.equal(records[0]!.comm, 'tlsserver');
    assert.equal(typeof records[0]!.pid, 'number');
    assert.ok(!Number.isNaN(Date.parse(String(records[0]!.time))));
    assert.ok(!tool.stdout().toString('utf8').includes(secret!), 'the secret is not printed');
  } finally {
    tool.child.kill('SIGKILL');
  }
});

test('keylog refuses binaries whose entry cannot be validated, with one sentence and nothing left behind', async (t) => {
  if (!requireProbing(t)) return;
  const sleeper = spawn('sleep', ['30']);
  try {
    for (const args of [['--exe', '/bin/ls'], ['--pid', String(sleeper.pid)]]) {
      const [command, argv] = cli(['keylog', ...args]);
      const r = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
        const child = spawn(command, argv, { stdio: ['ignore', 'ignore', 'pipe'] });
        let stderr = '';
        child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
        child.once('exit', (code) => resolve({ code, stderr }));
      });
      assert.equal(r.code, 3, r.stderr);
      assert.match(r.stderr, /^gokeylog: .* not a Go binary[^\n]*\.\n$/);
    }
  } finally {
    sleeper.kill();
  }
});

for (const which of ['newest', 'oldest'] as const) {
  test(`keylog --backend bpftrace on the ${which} toolchain's stripped server equals the client's key log`, async (t) => {
    const f = fixtures(t);
    if (!f) return;
    if (!requireOrSkip(t, spawnSyncOk('bpftrace', ['--version']), 'bpftrace is not installed')) return;
    const server = which === 'newest' ? f.server : f.oldest;
    const tool = await startKeylog(['--exe', server.path, '--backend', 'bpftrace']);
    try {
      const traffic = await runTraffic({ server, client: f.client, requests: 2, conns: 2 });
      const truth = readKeyLogSet(traffic.clientKeyLog);
      for (let i = 0; i < 200 && missingFrom(truth, keyLogSet(tool.stdout().toString('utf8'))).length > 0; i++) await sleep(50);
      tool.child.kill('SIGINT');
      assert.equal(await tool.exit, 0, tool.stderr());
      assert.deepEqual(keyLogSet(tool.stdout().toString('utf8')), truth);
    } finally {
      tool.child.kill('SIGKILL');
    }
  });
}

test('gokeylog bpftrace --pid: the probe is /proc/PID/exe at the file offset that readelf and go tool nm give', async (t) => {
  if (!requireProbing(t)) return;
  const servers = loadFixtures({ program: 'tlsserver', arch: 'amd64', stripped: true }).filter((s) => s.mode === 'pie' || s.mode === 'exe');
  if (!requireOrSkip(t, servers.length > 0, 'no stripped amd64 fixtures (run npm run setup)')) return;
  const pki = await testPki();
  for (const server of [servers[0]!, servers.at(-1)!]) {
    const running = await startServer(server.path, ['-addr', '127.0.0.1:0', '-cert', pki.serverCert, '-key', pki.serverKey]);
    try {
      const pid = running.child.pid!;
      const [command, argv] = cli(['bpftrace', '--pid', String(pid)]);
      const { stdout } = await spawnChecked(command, argv);
      // The file offset by readelf's PT_LOAD table (the referee): va − p_vaddr + p_offset.
      const expected = fileOffsetFromSegments(await readelfSegments(server.path), Number(server.nmWriteKeyLog))!;
      assert.ok(stdout.includes(`\nuprobe:/proc/${pid}/exe:0x${expected.toString(16)}\n`), `${server.id}: 0x${expected.toString(16)} in\n${stdout}`);
    } finally {
      await running.stop();
    }
  }
});

test('gokeylog bpftrace prints a script whose documented pipeline yields the client key log', async (t) => {
  const f = fixtures(t);
  if (!f) return;
  if (!requireOrSkip(t, spawnSyncOk('bpftrace', ['--version']), 'bpftrace is not installed')) return;
  const [command, argv] = cli(['bpftrace', f.server.path]);
  const { stdout: script } = await spawnChecked(command, argv);
  const dir = secretTempDir('bt');
  const file = path.join(dir, 'tlssecrets.bt');
  writeFileSync(file, script);
  const awk = /\| awk '([^']+)'/.exec(script)?.[1];
  assert.ok(awk, 'the script documents its awk pipeline');
  const bt = spawn('bpftrace', ['--unsafe', file], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  bt.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  const exit = new Promise((resolve) => bt.once('exit', resolve));
  try {
    for (let i = 0; i < 600 && !/^gokeylog: attached$/m.test(out); i++) await sleep(50);
    const traffic = await runTraffic({ server: f.server, client: f.client, requests: 2, conns: 2 });
    const truth = readKeyLogSet(traffic.clientKeyLog);
    for (let i = 0; i < 200 && out.split('\n').length <= truth.size; i++) await sleep(50);
    bt.kill('SIGINT');
    await exit;
    const keyLog = execFileSync('awk', [awk!], { input: out, encoding: 'utf8' });
    assert.deepEqual(keyLogSet(keyLog), truth);
  } finally {
    bt.kill('SIGKILL');
  }
});

function spawnSyncOk(command: string, args: string[]): boolean {
  try {
    execFileSync(command, args, { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
