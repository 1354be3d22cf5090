/**
 * bench/conns: a fixture server with N established TLS 1.3 connections (default 500), each making a request
 * per second (the tlsclient fixture, -parallel -interval 1s), all opened before `gokeylog conns` starts.
 * Measures, in one run:
 *   - the time from starting `gokeylog conns --pid SERVER` until it has listed all N (goal ≤ 5 s), beside
 *     `ss -tnp` listing the same sockets (without identities: the floor for "list the connections");
 *   - the server's request rate from the start of conns until it exits (whole seconds: the load comes in
 *     once-a-second waves), against its rate in the 5 s before (goal ≥ 95%), from the client's responses
 *     timestamped as they arrive.
 *
 *   node --import tsx bench/conns.ts [--conns N] [--rounds R]      (root)
 */
import { spawn } from 'node:child_process';
import { loadavg } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { loadFixtures, testPki } from '../test/support/fixtures.js';
import { spawnChecked, startServer } from '../test/support/traffic.js';
import { ourCli } from './support.js';

const args = process.argv.slice(2);
const option = (name: string, fallback: number): number => Number(args[args.indexOf(name) + 1] ?? NaN) || fallback;
const CONNS = option('--conns', 500);
const ROUNDS = option('--rounds', 3);
const BASELINE_S = 5;

const server = loadFixtures({ program: 'tlsserver', arch: 'amd64', mode: 'exe', stripped: true }).at(-1);
const client = loadFixtures({ program: 'tlsclient', arch: 'amd64', mode: 'exe', stripped: true }).at(-1);
if (!server || !client) throw new Error('Go fixtures are not built: run npm run setup first');
const pki = await testPki();
const running = await startServer(server.path, ['-addr', '127.0.0.1:0', '-cert', pki.serverCert, '-key', pki.serverKey]);
const load = spawn(client.path, ['-url', `https://127.0.0.1:${running.port}/healthz`, '-ca', pki.caCert, '-conns', String(CONNS), '-parallel', '-interval', '1s', '-n', '1000000'], { stdio: ['ignore', 'pipe', 'inherit'] });
/** Arrival times (ms, monotonic) of the responses. */
const arrivals: number[] = [];
let partial = '';
load.stdout.setEncoding('utf8').on('data', (chunk: string) => {
  const now = performance.now();
  const lines = (partial + chunk).split('\n');
  partial = lines.pop()!;
  for (const l of lines) if (l.startsWith('200 ')) arrivals.push(now);
});
const rate = (from: number, to: number): number => arrivals.filter((t) => t >= from && t < to).length / ((to - from) / 1000);
const serverPid = running.child.pid!;

async function established(): Promise<number> {
  const { stdout } = await spawnChecked('ss', ['-tnH', 'state', 'established', 'sport', `= :${running.port}`]);
  return stdout.split('\n').filter(Boolean).length;
}

try {
  for (let i = 0; i < 600 && (await established()) < CONNS; i++) await sleep(100);
  if ((await established()) < CONNS) throw new Error(`only ${await established()} of ${CONNS} connections came up`);
  await sleep(3000); // let the load settle into its once-a-second rhythm
  const cli = ourCli();
  const rows: { listS: number; ssS: number; ratio: number; listed: number }[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const baseFrom = performance.now();
    await sleep(BASELINE_S * 1000);
    const baseline = rate(baseFrom, performance.now());
    const ssStart = performance.now();
    await spawnChecked('ss', ['-tnpH', 'state', 'established', 'sport', `= :${running.port}`]);
    const ssS = (performance.now() - ssStart) / 1000;
    const start = performance.now();
    const { stdout } = await spawnChecked(cli.command, [...cli.args, 'conns', '--pid', String(serverPid), '--json', '--sweep', '30']);
    const end = performance.now();
    const listed = (JSON.parse(stdout) as { connections: { status: string }[] }).connections.filter((c) => c.status === 'tls').length;
    // The load comes in once-a-second waves: rates are taken over whole seconds, from the start of conns on.
    const window = Math.ceil((end - start) / 1000) * 1000;
    await sleep(Math.max(0, start + window - performance.now()));
    rows.push({ listS: (end - start) / 1000, ssS, listed, ratio: rate(start, start + window) / baseline });
    process.stdout.write(`round ${r + 1}: listed ${listed}/${CONNS} in ${((end - start) / 1000).toFixed(2)} s (ss -tnp ${ssS.toFixed(2)} s); rate during sweep ${(100 * rows.at(-1)!.ratio).toFixed(1)}% of ${baseline.toFixed(0)}/s; load ${loadavg()[0]!.toFixed(2)}\n`);
  }
  const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  process.stdout.write(
    `conns: all ${CONNS} listed in ${median(rows.map((x) => x.listS)).toFixed(2)} s (median of ${ROUNDS}; goal ≤ 5 s), ss -tnp ${median(rows.map((x) => x.ssS)).toFixed(2)} s; ` +
      `request rate during the sweep ${(100 * median(rows.map((x) => x.ratio))).toFixed(1)}% of the unprobed rate (goal ≥ 95%); load average ${loadavg().map((x) => x.toFixed(2)).join(' ')}\n`,
  );
  if (rows.some((x) => x.listed !== CONNS)) process.exitCode = 1;
} finally {
  load.kill('SIGTERM');
  await running.stop();
}
