/**
 * bench/keylog: handshakes per second of the stripped Go fixture server with no probe, under the tracefs
 * backend (text trace_pipe and binary trace_pipe_raw readers) and under bpftrace (the peer: what the original
 * write-up ran), in one run, rounds interleaved. Also this process's CPU per mode: the tracefs reader runs in it.
 * Prints rates, ratios to the unprobed rate (goal ≥ 95% with tracefs) and the p50/p99 delay from the probe
 * hit (kernel CLOCK_MONOTONIC timestamp of the event) to the key line written to a file (goal p99 ≤ 100 ms).
 * A ratio is each round's against the unprobed run of the same round (modes in alternating order), and the
 * median of the rounds' ratios is printed: on a shared machine the load drifts between rounds.
 *
 *   npm run bench:keylog -- [--handshakes N (1000)] [--rounds R (5)] [--modes none,tracefs-raw]      (root)
 *
 * Load: the tlsclient fixture opening N new TLS 1.3 connections (one request each); the rate is N over the
 * client's wall time, which is the server's handshake rate for that run.
 *
 * The reader's CPU, which a saturated machine takes from the target: CPU seconds per 1,000 keys over the
 * measured run, this process's CPU minus its CPU in the unprobed run of the same round (the tracefs reader and
 * the key log writer run in this process), plus bpftrace's own process in its mode. `--modes none,tracefs-raw`
 * runs a subset.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { KeyLogWriter, startKeyCapture, type KeyCaptureOptions } from '../src/probe/index.js';
import { SecretOutput } from '../src/util/secretFile.js';
import { loadFixtures, testPki } from '../test/support/fixtures.js';
import { secretTempDir } from '../test/support/pki.js';
import { spawnChecked, startServer } from '../test/support/traffic.js';

const args = process.argv.slice(2);
const option = (name: string, fallback: number): number => Number(args[args.indexOf(name) + 1] ?? NaN) || fallback;
const HANDSHAKES = option('--handshakes', 1000);
const ROUNDS = option('--rounds', 5);
type Mode = 'none' | 'tracefs' | 'tracefs-raw' | 'bpftrace';
const ALL_MODES: Mode[] = ['none', 'tracefs', 'tracefs-raw', 'bpftrace'];
const modesArg = args.includes('--modes') ? args[args.indexOf('--modes') + 1]!.split(',') : ALL_MODES;
const MODES = ALL_MODES.filter((m) => m === 'none' || modesArg.includes(m));
const OPTIONS: Record<Exclude<Mode, 'none'>, KeyCaptureOptions> = {
  tracefs: { backend: 'tracefs', tracePipe: 'text' },
  'tracefs-raw': { backend: 'tracefs', tracePipe: 'raw' },
  bpftrace: { backend: 'bpftrace' },
};

const server = loadFixtures({ program: 'tlsserver', arch: 'amd64', mode: 'exe', stripped: true }).at(-1);
const client = loadFixtures({ program: 'tlsclient', arch: 'amd64', mode: 'exe', stripped: true }).at(-1);
if (!server || !client) throw new Error('Go fixtures are not built: run npm run setup first');
const pki = await testPki();
const dir = secretTempDir('bench-keylog');
const running = await startServer(server.path, ['-addr', '127.0.0.1:0', '-cert', pki.serverCert, '-key', pki.serverKey]);
const clientArgs = ['-url', `https://127.0.0.1:${running.port}/`, '-ca', pki.caCert, '-n', String(HANDSHAKES), '-conns', String(HANDSHAKES), '-path', '/healthz'];

const rates = new Map<Mode, number[]>(MODES.map((m) => [m, []]));
const delaysMs = new Map<Mode, number[]>(MODES.map((m) => [m, []]));
const keysSeen = new Map<Mode, number>(MODES.map((m) => [m, 0]));
/** Per round, over the measured run only (no setup, warm-up or teardown): CPU seconds of this process and of bpftrace, and the keys read. */
const roundCpu = new Map<Mode, Array<{ self: number; bpftrace: number; keys: number }>>(MODES.map((m) => [m, []]));
const CLOCK_TICKS = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;

/** CPU seconds used so far by this process's running bpftrace children (/proc/PID/stat utime + stime). */
function bpftraceCpuSeconds(): number {
  let ticks = 0;
  for (const tid of readdirSync('/proc/self/task')) {
    for (const pid of readFileSync(`/proc/self/task/${tid}/children`, 'utf8').trim().split(' ').filter(Boolean)) {
      try {
        const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
        if (!stat.includes('(bpftrace)')) continue;
        const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        ticks += Number(fields[11]) + Number(fields[12]); // utime, stime (fields 14 and 15 of stat)
      } catch {
        // exited meanwhile
      }
    }
  }
  return ticks / CLOCK_TICKS;
}

async function round(mode: Mode): Promise<void> {
  const session = mode === 'none' ? undefined : await startKeyCapture({ pids: [running.child.pid!], exes: [], processes: [] }, OPTIONS[mode]);
  // What `gokeylog keylog -o FILE` does; the delay of a key is measured once its line was written.
  const written: bigint[] = [];
  const writer = new KeyLogWriter(SecretOutput.open(path.join(dir, `${mode}.keylog`), 'the key log', 'append').fd, (err) => {
    throw err;
  });
  let keysInRun = 0;
  session?.on('key', (e) => {
    keysInRun++;
    writer.add(e);
    written.push(e.timeNs);
    if (written.length === 1) {
      setImmediate(() => {
        const now = process.hrtime.bigint();
        for (const t of written.splice(0)) delaysMs.get(mode)!.push(Number(now - t) / 1e6);
      });
    }
  });
  try {
    // Warm-up connections outside the measurement (and bpftrace's first output).
    await spawnChecked(client!.path, clientArgs.map((a) => (a === String(HANDSHAKES) ? '20' : a)));
    keysInRun = 0;
    const selfBefore = process.cpuUsage();
    const bpftraceBefore = bpftraceCpuSeconds();
    const start = process.hrtime.bigint();
    await spawnChecked(client!.path, clientArgs, { timeoutMs: 600_000 });
    const seconds = Number(process.hrtime.bigint() - start) / 1e9;
    const self = process.cpuUsage(selfBefore);
    roundCpu.get(mode)!.push({ self: (self.user + self.system) / 1e6, bpftrace: bpftraceCpuSeconds() - bpftraceBefore, keys: keysInRun });
    rates.get(mode)!.push(HANDSHAKES / seconds);
  } finally {
    const stats = await session?.stop();
    writer.close();
    if (stats) keysSeen.set(mode, keysSeen.get(mode)! + stats.keys);
  }
}

try {
  // Modes in turn, the order reversed every other round: a load that drifts during a round (the machine is
  // shared) then weighs on each mode alike.
  for (let r = 0; r < ROUNDS; r++) for (const mode of r % 2 === 0 ? MODES : [...MODES].reverse()) await round(mode);
} finally {
  await running.stop();
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;
const percentile = (xs: number[], p: number): number => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((xs.length * p) / 100))] ?? NaN;
/** The median over rounds of a mode's rate over the unprobed rate of the same round: paired, so slow rounds cancel. */
const ratioToUnprobed = (mode: Mode): number => median(rates.get(mode)!.map((rate, i) => rate / rates.get('none')![i]!));
console.log(`keylog bench: ${ROUNDS} rounds × ${HANDSHAKES} TLS 1.3 handshakes against ${server.id} (median rate per mode; % of unprobed: median of the rounds' ratios)`);
for (const mode of MODES) {
  const rate = median(rates.get(mode)!);
  const d = delaysMs.get(mode)!;
  const expected = mode === 'none' ? '' : `, keys ${keysSeen.get(mode)}/${ROUNDS * (HANDSHAKES + 20) * 4}`;
  const delay = d.length > 0 ? `, hit→file delay p50 ${percentile(d, 50).toFixed(2)} ms p99 ${percentile(d, 99).toFixed(2)} ms` : '';
  const rounds = mode === 'none' ? '' : ` (rounds ${rates.get(mode)!.map((r, i) => `${((r / rates.get('none')![i]!) * 100).toFixed(0)}%`).join(' ')})`;
  console.log(`  ${mode.padEnd(11)} ${rate.toFixed(0).padStart(6)} handshakes/s  ${(ratioToUnprobed(mode) * 100).toFixed(1).padStart(5)}% of unprobed${rounds}${expected}${delay}${readerCpuText(mode)}`);
}
/** The reader's CPU seconds per 1,000 keys (median over rounds), against the unprobed round of the same round number. */
function readerCpuText(mode: Mode): string {
  if (mode === 'none') return '';
  const none = roundCpu.get('none')!;
  const perThousand = roundCpu.get(mode)!.map((r, i) => {
    const extra = r.self - none[i]!.self + r.bpftrace;
    return (extra / Math.max(1, r.keys)) * 1000;
  });
  return `, reader CPU ${median(perThousand).toFixed(3)} s per 1,000 keys${mode === 'bpftrace' ? ' (bpftrace process included)' : ''}`;
}
console.log(`  load average ${os.loadavg().map((l) => l.toFixed(2)).join(' ')} at the end`);
const bpftrace = median(rates.get('bpftrace') ?? []);
for (const mode of (['tracefs', 'tracefs-raw'] as const).filter((m) => MODES.includes(m) && MODES.includes('bpftrace'))) {
  console.log(`  ${mode}/bpftrace rate ratio: ${(median(rates.get(mode)!) / bpftrace).toFixed(2)}×`);
}
console.log('  goals: tracefs ≥ 95% of the unprobed rate; p99 hit→file delay ≤ 100 ms');
