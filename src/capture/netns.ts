import { readlinkSync } from 'node:fs';
import { ExitCode, GokeylogError } from '../util/errors.js';

/** Where tcpdump runs: our own network namespace, or the one of `pid`. */
export interface NetnsChoice {
  /** Enter the namespace of this process; undefined = stay in ours. */
  pid: number | undefined;
  /** e.g. "net:[4026532301] of pid 1234", or "host". */
  description: string;
}

/** The id of a process's network namespace ("net:[4026531992]"), or undefined if it is gone. */
export function netnsOf(pid: number | 'self'): string | undefined {
  try {
    return readlinkSync(`/proc/${pid}/ns/net`);
  } catch {
    return undefined;
  }
}

/**
 * The network namespaces to capture in: one per distinct namespace of the targets (ours is "host"), in the
 * order the targets were given; just ours with --host-netns or when no target runs yet.
 */
export function chooseNetns(pids: number[], hostNetns: boolean): NetnsChoice[] {
  if (hostNetns || pids.length === 0) return [{ pid: undefined, description: 'host' }];
  const own = netnsOf('self');
  const byNetns = new Map<string, number>();
  for (const pid of pids) {
    const ns = netnsOf(pid);
    if (ns !== undefined && !byNetns.has(ns)) byNetns.set(ns, pid);
  }
  if (byNetns.size === 0) throw new GokeylogError(`the target processes (pid ${pids.join(',')}) are gone.`, ExitCode.notFound);
  return [...byNetns].map(([ns, pid]) => (ns === own ? { pid: undefined, description: 'host' } : { pid, description: `${ns} of pid ${pid}` }));
}
