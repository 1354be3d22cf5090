// Leftovers and their owners (issue 12, item 7). tracefs is one for the whole machine, shared by every PID
// namespace: a run must never remove a live session's trace instance or probes because it cannot see the
// session's process, and a signal at any moment of a run's start must leave nothing behind.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { TRACEFS } from '../../src/probe/tracefs.js';
import { startCli } from '../support/cli.js';
import { requireOrSkip } from '../support/env.js';
import { cliArgv } from '../support/paths.js';
import { secretTempDir } from '../support/pki.js';
import { commandExists, runTraffic, spawnChecked, startProcess } from '../support/traffic.js';
import { descendants, leftovers, missingFrom, probingFixtures, readKeyLogSet } from './harness.js';

const instances = (): string[] => readdirSync(path.join(TRACEFS, 'instances'));
const uprobeGroups = (): string[] => readFileSync(path.join(TRACEFS, 'uprobe_events'), 'utf8').split('\n').filter(Boolean).map((l) => l.slice(2).split('/')[0]!);

test('SIGINT at any moment of a capture\'s start leaves no trace instance and no uprobe (40 runs)', { timeout: 600_000 }, async (t) => {
  const f = probingFixtures(t);
  if (!f) return;
  const dir = secretTempDir('sigint');
  for (let run = 0; run < 40; run++) {
    const child = spawn(process.execPath, [...cliArgv(), 'capture', '--exe', f.server.path, '-w', path.join(dir, `${run}.pcapng`)], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const exit = new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.once('exit', (code: number | null, signal: NodeJS.Signals | null) => resolve([code, signal])));
    const pid: number = child.pid!;
    if (run % 2 === 0) {
      // 0.1–0.3 s after the start, as the issue measured (where that falls depends on the machine's load) …
      await sleep(100 + ((run * 37) % 200));
    } else {
      // … and right when the trace instance appears: the moment a late handler would miss.
      for (let i = 0; i < 2000 && !instances().some((n) => n.startsWith(`gokeylog_${pid}_`)) && child.exitCode === null; i++) await sleep(2);
    }
    child.kill('SIGINT');
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    const [code, signal] = await exit;
    clearTimeout(timer);
    // Before Node installed any handler, SIGINT ends it at once (nothing was made yet); after, the run ends cleanly.
    assert.ok(code === 0 || signal === 'SIGINT', `run ${run}: exit ${code} (${signal}): ${stderr}`);
    assert.doesNotMatch(stderr, /internal error/, `run ${run}`);
    assert.deepEqual(leftovers(pid), [], `run ${run} left its probes behind: ${stderr}`);
  }
});

/** The host pid of the process called `comm` that descends from `pid` (waits, bounded, until it exists). */
async function descendant(pid: number, comm: string): Promise<number> {
  for (let i = 0; i < 600; i++) {
    const found = descendants(pid).find((c) => readFileSync(`/proc/${c}/comm`, 'utf8').trim() === comm);
    if (found !== undefined) return found;
    await sleep(50);
  }
  throw new Error(`no ${comm} under pid ${pid}`);
}

/** A pid no host process has, low enough for a new PID namespace to reach by starting that many processes. */
function freeHostPid(): number {
  for (let pid = 300; pid < 30_000; pid++) if (!existsSync(`/proc/${pid}`) && !existsSync(`/proc/${pid - 1}`)) return pid;
  throw new Error('no free low pid');
}

/**
 * `sh -c` in a new PID namespace (with its own /proc) that starts processes until the next pid is `pid`, then
 * runs `gokeylog ARGS`: a session whose pid means something else, or nothing, on the host.
 */
function inPidNamespace(pid: number, args: string[]): [string, string[]] {
  const cli = [process.execPath, ...cliArgv(), ...args].map((a) => `'${a}'`).join(' ');
  const script = `until [ "$(sh -c 'echo $$')" -ge ${pid - 1} ]; do :; done; ${cli}; exit $?`;
  return ['unshare', ['--pid', '--fork', '--mount-proc', '--kill-child', 'sh', '-c', script]];
}

test('a session in another PID namespace is never removed as a leftover (either way); once dead, it is', { timeout: 300_000 }, async (t) => {
  const f = probingFixtures(t);
  if (!f || !requireOrSkip(t, commandExists('unshare'), 'needs unshare (util-linux)')) return;
  const dir = secretTempDir('pidns');
  const pid = freeHostPid();
  const insideKeys = path.join(dir, 'inside.keys');
  const [command, argv] = inPidNamespace(pid, ['keylog', '--exe', f.server.path, '-o', insideKeys]);
  const { process: inside } = await startProcess(command, argv, { ready: /gokeylog: hooked/, readyOn: 'stderr' });
  try {
    const name = instances().find((n) => n.startsWith(`gokeylog_${pid}_`));
    assert.ok(name, `the namespace's session made an instance named after its own pid ${pid}: ${instances().join(', ')}`);
    assert.equal(existsSync(`/proc/${pid}`), false, 'no host process has that pid (else this test proves nothing)');

    // A host run looks for leftovers: it cannot see pid `pid`, and must leave the live session alone.
    const host = await spawnChecked(process.execPath, [...cliArgv(), 'keylog', '--exe', f.server.path, '--duration', '0.2']);
    assert.doesNotMatch(host.stderr, /removed/);
    assert.ok(instances().includes(name!));
    assert.ok(uprobeGroups().includes(name!), 'its uprobe is still defined');
    const traffic = await runTraffic({ server: f.server, client: f.client, requests: 1, conns: 1 });
    const truth = readKeyLogSet(traffic.clientKeyLog);
    for (let i = 0; i < 200 && missingFrom(truth, readKeyLogSet(insideKeys)).length > 0; i++) await sleep(50);
    assert.deepEqual(missingFrom(truth, readKeyLogSet(insideKeys)), [], 'the namespace\'s session still writes keys');

    // The other way round: a run in a new namespace leaves a live host session alone.
    const hostSession = await startCli(['keylog', '--exe', f.server.path], /gokeylog: hooked/);
    try {
      const [c2, a2] = inPidNamespace(freeHostPid(), ['keylog', '--exe', f.server.path, '--duration', '0.2']);
      const other = await spawnChecked(c2, a2);
      assert.doesNotMatch(other.stderr, /removed/);
      assert.equal(await hostSession.stop('SIGINT'), 0, hostSession.stderr());
      assert.deepEqual(leftovers(hostSession.child.pid!), []);
    } finally {
      hostSession.child.kill('SIGKILL');
    }

    // kill -9 in the namespace: now the instance is nobody's, and the next host run removes it and says so.
    process.kill(await descendant(inside.child.pid!, 'node'), 'SIGKILL');
    for (let i = 0; i < 200 && inside.child.exitCode === null; i++) await sleep(50);
    const after = await spawnChecked(process.execPath, [...cliArgv(), 'keylog', '--exe', f.server.path, '--duration', '0.2']);
    // Any run removes it: on a shared machine another one may have come first.
    if (!after.stderr.includes(`removed trace instance ${name} `)) assert.equal(instances().includes(name!), false, after.stderr);
    else {
      assert.match(after.stderr, new RegExp(`removed trace instance ${name} left behind by a run that died`));
      assert.match(after.stderr, new RegExp(`removed uprobe ${name}/wkl0 left behind by a run that died`));
    }
    assert.equal(instances().includes(name!), false);
    assert.equal(uprobeGroups().includes(name!), false);
  } finally {
    await inside.stop('SIGINT');
  }
});
