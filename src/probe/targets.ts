import { readdirSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import path from 'node:path';

/** What the user asked to hook. */
export interface TargetSpec {
  pids: number[];
  /** Executables: every process running one of them, now and later. */
  exes: string[];
  /** Names matched against /proc/PID/comm or the basename of argv[0]. */
  processes: string[];
}

/** A selected process and the binary it runs, identified by inode so that any mount namespace works. */
export interface TargetProcess {
  pid: number;
  comm: string;
  /** `dev:ino` of /proc/PID/exe. */
  binary: string;
  /** readlink of /proc/PID/exe (" (deleted)" dropped): how a restart onto an upgraded binary is recognised. */
  exePath: string;
}

/** One binary to hook, with the selected processes that run it. */
export interface BinaryGroup {
  binary: string;
  /** `/proc/PID/exe` of one of its processes: the kernel resolves it to the inode, even in another mount namespace. */
  probePath: string;
  pids: number[];
}

const PROC = '/proc';

/** The dev:ino of a file (following links, including /proc's magic ones), or undefined if it cannot be stat'ed. */
export function binaryId(file: string): string | undefined {
  try {
    const st = statSync(file);
    return `${st.dev}:${st.ino}`;
  } catch {
    return undefined;
  }
}

/** Facts about one process, or undefined if it is gone or has no executable (kernel threads). */
export function processInfo(pid: number): (TargetProcess & { argv0: string }) | undefined {
  const dir = path.join(PROC, String(pid));
  const binary = binaryId(path.join(dir, 'exe'));
  if (!binary) return undefined;
  try {
    const comm = readFileSync(path.join(dir, 'comm'), 'utf8').replace(/\n$/, '');
    const argv0 = readFileSync(path.join(dir, 'cmdline'), 'latin1').split('\0')[0] ?? '';
    const exePath = readlinkSync(path.join(dir, 'exe')).replace(/ \(deleted\)$/, '');
    return { pid, comm, binary, exePath, argv0 };
  } catch {
    return undefined;
  }
}

/** Every process id in /proc, except ours. */
function allPids(): number[] {
  return readdirSync(PROC)
    .filter((name) => /^\d+$/.test(name))
    .map(Number)
    .filter((pid) => pid !== process.pid);
}

/** `comm` is cut to 15 bytes by the kernel, so a longer name matches on its prefix. */
function matchesName(p: { comm: string; argv0: string }, name: string): boolean {
  return p.comm === name.slice(0, 15) || path.basename(p.argv0) === name;
}

/**
 * Whether a process is selected by a spec: the process if so. `followPaths` are executable paths of earlier
 * targets: a process running whatever file is at such a path now (a restart, an upgrade) is selected too.
 * The cheap test (one stat) comes first: this runs over every process of the host at each poll.
 */
export function targetMatcher(spec: TargetSpec, followPaths: ReadonlySet<string> = new Set()): (pid: number) => TargetProcess | undefined {
  const pids = new Set(spec.pids);
  // Stat'ed on every resolution: an upgrade that replaces the file is a new inode at the same path.
  const exeIds = new Set(spec.exes.map(binaryId).filter((id): id is string => id !== undefined));
  const byPathOrName = followPaths.size > 0 || spec.processes.length > 0;
  return (pid) => {
    if (!pids.has(pid)) {
      const binary = binaryId(path.join(PROC, String(pid), 'exe'));
      if (binary === undefined || (!exeIds.has(binary) && !byPathOrName)) return undefined;
    }
    const p = processInfo(pid);
    if (!p) return undefined;
    const selected = pids.has(pid) || exeIds.has(p.binary) || followPaths.has(p.exePath) || spec.processes.some((n) => matchesName(p, n));
    return selected ? { pid: p.pid, comm: p.comm, binary: p.binary, exePath: p.exePath } : undefined;
  };
}

/** The processes a spec selects right now (see `targetMatcher`). */
export function resolveTargets(spec: TargetSpec, followPaths: ReadonlySet<string> = new Set()): TargetProcess[] {
  const matches = targetMatcher(spec, followPaths);
  const scanAll = spec.exes.length > 0 || spec.processes.length > 0 || followPaths.size > 0;
  return (scanAll ? allPids() : spec.pids).map(matches).filter((p): p is TargetProcess => p !== undefined);
}

/** Selected processes grouped by binary: one probe serves every process of a binary. */
export function groupByBinary(processes: TargetProcess[]): BinaryGroup[] {
  const groups = new Map<string, BinaryGroup>();
  for (const p of processes) {
    const g = groups.get(p.binary);
    if (g) g.pids.push(p.pid);
    else groups.set(p.binary, { binary: p.binary, probePath: path.join(PROC, String(p.pid), 'exe'), pids: [p.pid] });
  }
  return [...groups.values()];
}

/**
 * Thread id → process id, when the backend could not say (tracefs records the thread id of a hit, and the
 * kernel's record-tgid table may not have the thread yet): read from /proc/TID/status (a thread's directory
 * is reachable there though /proc does not list it) and cached; the threads of selected processes are learnt
 * up front so that a thread that exits right after logging a key is still attributed.
 */
export class ThreadOwners {
  readonly #owner = new Map<number, number>();

  learn(pid: number): void {
    try {
      for (const tid of readdirSync(path.join(PROC, String(pid), 'task'))) this.#owner.set(Number(tid), pid);
    } catch {
      // the process is gone: its threads will not log keys any more
    }
  }

  ownerOf(tid: number): number | undefined {
    const known = this.#owner.get(tid);
    if (known !== undefined) return known;
    try {
      const m = /^Tgid:\s*(\d+)$/m.exec(readFileSync(path.join(PROC, String(tid), 'status'), 'utf8'));
      if (!m) return undefined;
      const pid = Number(m[1]);
      this.#owner.set(tid, pid);
      return pid;
    } catch {
      return undefined;
    }
  }

  /** Forgets threads of processes that are gone, so a recycled thread id is not misattributed. */
  forget(pids: Iterable<number>): void {
    const gone = new Set(pids);
    for (const [tid, pid] of this.#owner) if (gone.has(pid)) this.#owner.delete(tid);
  }
}

/** A process's start time in clock ticks since boot (field 22 of /proc/PID/stat), or undefined when it is gone. */
export function startTime(pid: number | 'self'): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces and parentheses: count from the last ')'.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

/** The id of a process's network namespace ("net:[4026531992]"), or undefined if it is gone. */
export function netnsOf(pid: number | 'self'): string | undefined {
  try {
    return readlinkSync(`/proc/${pid}/ns/net`);
  } catch {
    return undefined;
  }
}
