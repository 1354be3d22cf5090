/** Option parsers and option groups shared by the commands, so that the same option reads and fails alike everywhere. */
import type { Command } from 'commander';
import type { TargetSpec } from '../probe/index.js';
import { ExitCode, GokeylogError } from '../util/errors.js';

/** Parser of a repeatable option: every value, in order (no default, so that requiredOption still requires one). */
export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

export function parsePid(value: string): number {
  if (!/^[1-9]\d*$/.test(value)) throw new GokeylogError(`--pid ${value} is not a process id.`, ExitCode.usage);
  return Number(value);
}

export function collectPid(value: string, previous: number[]): number[] {
  return [...previous, parsePid(value)];
}

export function parsePositive(option: string): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (!Number.isFinite(n) || n <= 0) throw new GokeylogError(`${option} ${value} is not a positive number.`, ExitCode.usage);
    return n;
  };
}

/** The programs a live command hooks, as commander parses them (see addTargetOptions). */
export interface TargetOptions {
  pid: number[];
  exe: string[];
  process: string[];
  follow?: boolean;
}

export function addTargetOptions(command: Command): Command {
  return command
    .option('--pid <pid>', 'a process to hook (repeatable)', collectPid, [])
    .option('--exe <path>', 'every process running this executable, now and later (repeatable)', collect, [])
    .option('--process <name>', 'every process with this command name or argv[0], now and later (repeatable)', collect, [])
    .option('--follow', 'keep following the targets: re-hook a restarted target, even onto an upgraded binary');
}

export const targetSpec = (opts: TargetOptions): TargetSpec => ({ pids: opts.pid, exes: opts.exe, processes: opts.process });

