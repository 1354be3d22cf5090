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
 * The one network namespace the targets share. Targets spread over several namespaces are refused rather than
 * captured in only one of them: one capture shows one namespace's traffic, and the user picks which.
 */
export function chooseNetns(pids: number[], hostNetns: boolean): NetnsChoice {
  const own = netnsOf('self');
  if (hostNetns || pids.length === 0) return { pid: undefined, description: 'host' };
  const byNetns = new Map<string, number[]>();
  for (const pid of pids) {
    const ns = netnsOf(pid);
    if (ns === undefined) continue;
    byNetns.set(ns, [...(byNetns.get(ns) ?? []), pid]);
  }
  if (byNetns.size > 1) {
    const list = [...byNetns.values()].map((group) => `pid ${group.join(',')}`).join('; ');
    throw new GokeylogError(
      `the targets run in ${byNetns.size} network namespaces (${list}): capture one namespace at a time, or use --host-netns.`,
      ExitCode.usage,
    );
  }
  const [only] = byNetns.entries();
  if (!only) throw new GokeylogError(`the target processes (pid ${pids.join(',')}) are gone.`, ExitCode.notFound);
  const [ns, group] = only;
  if (ns === own) return { pid: undefined, description: 'host' };
  return { pid: group[0], description: `${ns} of pid ${group[0]}` };
}
