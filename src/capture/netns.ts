import { netnsOf } from '../probe/targets.js';
import { GokeylogError } from '../util/errors.js';

/** Where tcpdump runs: our own network namespace, or the one of `pid`. */
export interface NetnsChoice {
  /** The namespace, as /proc/PID/ns/net names it ("net:[4026531992]"). */
  id: string;
  /** Enter the namespace of this process; undefined = stay in ours. */
  pid: number | undefined;
  /** e.g. "net:[4026532301] of pid 1234", or "host". */
  description: string;
}

/**
 * The network namespaces to capture in: one per distinct namespace of the targets (ours is "host"), in the
 * order the targets were given; just ours with --host-netns or when no target runs yet.
 */
export function chooseNetns(pids: number[], hostNetns: boolean): NetnsChoice[] {
  const own = netnsOf('self') ?? 'self';
  if (hostNetns || pids.length === 0) return [{ id: own, pid: undefined, description: 'host' }];
  const byNetns = new Map<string, number>();
  for (const pid of pids) {
    const ns = netnsOf(pid);
    if (ns !== undefined && !byNetns.has(ns)) byNetns.set(ns, pid);
  }
  if (byNetns.size === 0) throw new GokeylogError(`the target processes (pid ${pids.join(',')}) are gone.`, 'GOKEYLOG_ERR_NO_SUCH_PROCESS');
  return [...byNetns].map(([id, pid]) => netnsChoice(id, pid, own));
}

/** How to capture in namespace `id`, where process `pid` runs; `own` is ours. */
export function netnsChoice(id: string, pid: number, own = netnsOf('self')): NetnsChoice {
  return id === own ? { id, pid: undefined, description: 'host' } : { id, pid, description: `${id} of pid ${pid}` };
}
