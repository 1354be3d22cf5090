/** Option parsers and option groups shared by the commands, so that the same option reads and fails alike everywhere. */
import type { Command } from 'commander';
import type { TargetSpec } from '../probe/index.js';
import { K8S_COMPONENTS, isK8sComponent, presetFilter, type K8sComponent } from '../probe/presets.js';
import { GokeylogError, type ErrorCode } from '../util/errors.js';

/** What inspecting a binary can end with (inspect, bpftrace, and the start of keylog and capture). */
export const BINARY_ERRORS: readonly ErrorCode[] = [
  'GOKEYLOG_ERR_USAGE', 'GOKEYLOG_ERR_IO', 'GOKEYLOG_ERR_UNSUPPORTED_BINARY',
  'GOKEYLOG_ERR_WRITEKEYLOG_NOT_FOUND', 'GOKEYLOG_ERR_NOT_VALIDATED', 'GOKEYLOG_ERR_FILE_NOT_FOUND', 'GOKEYLOG_ERR_NO_SUCH_PROCESS',
];

/** What hooking live processes can end with besides (keylog, capture). */
export const PROBE_ERRORS: readonly ErrorCode[] = [
  ...BINARY_ERRORS, 'GOKEYLOG_ERR_UNSAFE_OUTPUT', 'GOKEYLOG_ERR_NEEDS_ROOT', 'GOKEYLOG_ERR_TRACEFS', 'GOKEYLOG_ERR_TOOL', 'GOKEYLOG_ERR_UNPROBEABLE_PATH',
];

/** What reading captures and key logs can end with (analyze, inject). */
export const CAPTURE_FILE_ERRORS: readonly ErrorCode[] = [
  'GOKEYLOG_ERR_USAGE', 'GOKEYLOG_ERR_IO', 'GOKEYLOG_ERR_BAD_CAPTURE', 'GOKEYLOG_ERR_BAD_KEYLOG', 'GOKEYLOG_ERR_FILE_NOT_FOUND',
];

/** Parser of a repeatable option: every value, in order (no default, so that requiredOption still requires one). */
export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

export function parsePid(value: string): number {
  if (!/^[1-9]\d*$/.test(value)) throw new GokeylogError(`--pid ${value} is not a process id.`, 'GOKEYLOG_ERR_USAGE');
  return Number(value);
}

export function collectPid(value: string, previous: number[]): number[] {
  return [...previous, parsePid(value)];
}

function collectK8s(value: string, previous: K8sComponent[]): K8sComponent[] {
  if (!isK8sComponent(value)) throw new GokeylogError(`--k8s ${value} is not one of ${K8S_COMPONENTS.join(', ')}.`, 'GOKEYLOG_ERR_USAGE');
  return [...previous, value];
}

/** --expiring-within's value (analyze and conns): a whole number of days, 0 or more. */
export function parseDays(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new GokeylogError(`--expiring-within needs a whole number of days, not "${value}".`, 'GOKEYLOG_ERR_USAGE');
  return n;
}

export function parsePositive(option: string): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (!Number.isFinite(n) || n <= 0) throw new GokeylogError(`${option} ${value} is not a positive number.`, 'GOKEYLOG_ERR_USAGE');
    return n;
  };
}

/** The programs a live command hooks, as commander parses them (see addTargetOptions). */
export interface TargetOptions {
  pid: number[];
  exe: string[];
  process: string[];
  k8s: K8sComponent[];
  follow?: boolean;
}

/** `--k8s COMPONENT`: see resolveTargetSpec. */
export function addK8sOption(command: Command): Command {
  return command.option('--k8s <component>', `the control-plane component on this node, picked among look-alikes (repeatable): ${K8S_COMPONENTS.join(', ')}`, collectK8s, []);
}

export function addTargetOptions(command: Command): Command {
  return addK8sOption(command)
    .option('--pid <pid>', 'a process to hook (repeatable)', collectPid, [])
    .option('--exe <path>', 'every process running this executable, now and later (repeatable)', collect, [])
    .option('--process <name>', 'every process with this command name or argv[0], now and later (repeatable)', collect, [])
    .option('--follow', 'keep following the targets: re-hook a restarted target, even onto an upgraded binary');
}

export const targetSpec = (opts: TargetOptions): TargetSpec => ({ pids: opts.pid, exes: opts.exe, processes: opts.process });

export const hasTargets = (opts: TargetOptions): boolean => opts.pid.length + opts.exe.length + opts.process.length + opts.k8s.length > 0;

export interface ResolvedTargets {
  spec: TargetSpec;
  /** A capture filter for the ports of the --k8s components, when any were asked for. */
  presetFilter?: string;
}

/**
 * The target spec with every --k8s preset resolved to the processes it picks on this node (said on stderr, with
 * the look-alikes passed over and why). A preset that finds nothing is an error: nothing would be hooked.
 */
export async function resolveTargetSpec(opts: TargetOptions, notice: (message: string) => void): Promise<ResolvedTargets> {
  const spec = targetSpec(opts);
  if (opts.k8s.length === 0) return { spec };
  const { resolvePreset } = await import('../probe/presetTargets.js');
  const pids = [...spec.pids];
  const ports: number[] = [];
  for (const component of new Set(opts.k8s)) {
    const choice = await resolvePreset(component);
    for (const p of choice.passedOver) notice(`--k8s ${component}: passed over pid ${p.pid}: ${p.reason}`);
    if (choice.chosen.length === 0) throw new GokeylogError(`--k8s ${component}: ${choice.why}.`, 'GOKEYLOG_ERR_NO_SUCH_PROCESS');
    notice(`--k8s ${component}: pid ${choice.chosen.map((c) => c.pid).join(', ')} (${choice.why}); ports ${choice.ports.join(', ') || 'none known'}`);
    pids.push(...choice.chosen.map((c) => c.pid));
    ports.push(...choice.ports);
  }
  const filter = presetFilter(ports);
  return { spec: { ...spec, pids: [...new Set(pids)] }, ...(filter === undefined ? {} : { presetFilter: filter }) };
}

