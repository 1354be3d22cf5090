/**
 * bench/keylog: handshakes per second of the stripped Go fixture server with no probe, under the tracefs
 * backend (text trace_pipe and binary trace_pipe_raw readers) and under bpftrace (the peer: what the original
 * write-up ran), in one run, rounds interleaved. Also this process's CPU per mode: the tracefs reader runs in it.
 * Prints rates, ratios to the unprobed rate (goal ≥ 95% with tracefs) and the p50/p99 delay from the probe
 * hit (kernel CLOCK_MONOTONIC timestamp of the event) to the key line written to a file (goal p99 ≤ 100 ms).
 *
 *   node --import tsx bench/keylog.ts [--handshakes N] [--rounds R]      (root)
 *
 * Load: the tlsclient fixture opening N new TLS 1.3 connections (one request each); the rate is N over the
 * client's wall time, which is the server's handshake rate for that run.
 */
import path from 'node:path';
import { KeyLogWriter, startKeyCapture, type KeyCaptureOptions } from '../src/probe/index.js';
import { SecretOutput } from '../src/util/secretFile.js';
import { loadFixtures, testPki } from '../test/support/fixtures.js';
import { secretTempDir } from '../test/support/pki.js';
import { spawnChecked, startServer } from '../test/support/traffic.js';

const args = process.argv.slice(2);
const option = (name: string, fallback: number): number => Number(args[args.indexOf(name) + 1] ?? NaN) || fallback;
const HANDSHAKES = option('--handshakes', 2000);
const ROUNDS = option('--rounds', 3);
type Mode = 'none' | 'tracefs' | 'tracefs-raw' | 'bpftrace';
const MODES: Mode[] = ['none', 'tracefs', 'tracefs-raw', 'bpftrace'];
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
/** CPU seconds per second used by this process (the load client's driver, plus the reader in tracefs modes) during the measured run. */
const readerCpu = new Map<Mode, number[]>(MODES.map((m) => [m, []]));

async function round(mode: Mode): Promise<void> {
  const session = mode === 'none' ? undefined : await startKeyCapture({ pids: [running.child.pid!], exes: [], processes: [] }, OPTIONS[mode]);
  const cpuBefore = process.cpuUsage();
  // What `gokeylog keylog -o FILE` does; the delay of a key is measured once its line was written.
  const written: bigint[] = [];
  const writer = new KeyLogWriter(SecretOutput.open(path.join(dir, `${mode}.keylog`), 'the key log', 'append').fd, (err) => {
    throw err;
  });
  session?.on('key', (e) => {
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
    const start = process.hrtime.bigint();
    await spawnChecked(client!.path, clientArgs, { timeoutMs: 600_000 });
    const seconds = Number(process.hrtime.bigint() - start) / 1e9;
    rates.get(mode)!.push(HANDSHAKES / seconds);
    const cpu = process.cpuUsage(cpuBefore);
    readerCpu.get(mode)!.push((cpu.user + cpu.system) / 1e6 / seconds);
  } finally {
    const stats = await session?.stop();
    writer.close();
    if (stats) keysSeen.set(mode, keysSeen.get(mode)! + stats.keys);
  }
}

try {
  for (let r = 0; r < ROUNDS; r++) for (const mode of MODES) await round(mode);
} finally {
  await running.stop();
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;
const percentile = (xs: number[], p: number): number => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((xs.length * p) / 100))] ?? NaN;
const base = median(rates.get('none')!);
console.log(`keylog bench: ${ROUNDS} rounds × ${HANDSHAKES} TLS 1.3 handshakes against ${server.id} (median rate per mode)`);
for (const mode of MODES) {
  const rate = median(rates.get(mode)!);
  const d = delaysMs.get(mode)!;
  const expected = mode === 'none' ? '' : `, keys ${keysSeen.get(mode)}/${ROUNDS * (HANDSHAKES + 20) * 4}`;
  const delay = d.length > 0 ? `, hit→file delay p50 ${percentile(d, 50).toFixed(2)} ms p99 ${percentile(d, 99).toFixed(2)} ms` : '';
  // bpftrace reads in its own process, not counted here; 'none' shows what the bench itself costs.
  const cpu = mode === 'bpftrace' ? '' : `, bench process CPU ${(median(readerCpu.get(mode)!) * 100).toFixed(1)}%`;
  console.log(`  ${mode.padEnd(11)} ${rate.toFixed(0).padStart(6)} handshakes/s  ${((rate / base) * 100).toFixed(1).padStart(5)}% of unprobed${expected}${delay}${cpu}`);
}
const bpftrace = median(rates.get('bpftrace')!);
for (const mode of ['tracefs', 'tracefs-raw'] as const) {
  console.log(`  ${mode}/bpftrace rate ratio: ${(median(rates.get(mode)!) / bpftrace).toFixed(2)}×`);
}
console.log('  goals: tracefs ≥ 95% of the unprobed rate; p99 hit→file delay ≤ 100 ms');
