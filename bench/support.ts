/** What the benchmarks share: timing a command with its peak RSS, and running this checkout's CLI. */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export interface Measured {
  seconds: number;
  /** User + system CPU seconds (from GNU time): on a shared machine, what the run itself cost. */
  cpuSeconds: number;
  peakRssMb: number;
  stdout: string;
}

/** Wall time, CPU time and peak RSS (from GNU time) of one run of a command that must succeed. */
export function measure(command: string, commandArgs: string[]): Measured {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'gokeylog-bench-'));
  const timeFile = path.join(dir, 'time.out');
  try {
    const start = process.hrtime.bigint();
    const run = spawnSync('/usr/bin/time', ['-f', '%M %U %S', '-o', timeFile, command, ...commandArgs], { encoding: 'utf8', maxBuffer: 1 << 30 });
    const seconds = Number(process.hrtime.bigint() - start) / 1e9;
    if (run.status !== 0) throw new Error(`${command} failed: ${run.stderr.slice(-500)}`);
    const [rssKb, user, system] = readFileSync(timeFile, 'utf8').trim().split('\n').pop()!.split(' ').map(Number);
    return { seconds, cpuSeconds: user! + system!, peakRssMb: rssKb! / 1024, stdout: run.stdout };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** This checkout's CLI: compiled beside this file when the bench runs from dist/, else the sources via tsx. */
export function ourCli(): { command: string; args: string[] } {
  const self = fileURLToPath(import.meta.url);
  const fromSources = self.endsWith('.ts');
  const entry = path.join(path.dirname(self), '..', 'src', 'cli', fromSources ? 'index.ts' : 'index.js');
  return { command: process.execPath, args: fromSources ? ['--import', 'tsx', entry] : [entry] };
}
