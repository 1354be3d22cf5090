import { spawnSync } from 'node:child_process';
import { accessSync, closeSync, constants, existsSync, mkdirSync, openSync, readFileSync, readdirSync, readlinkSync, rmdirSync, writeSync } from 'node:fs';
import path from 'node:path';
import { errnoReason, GokeylogError } from '../util/errors.js';
import type { ProbeRecord } from './events.js';
import { tracefsFetchArgs, uprobeLine, type ProbeArgs } from './fetchArgs.js';
import { startTime } from './targets.js';
import { openTracePipe, type RecordDecoder, type TracePipe, type TracePipeFormat } from './tracePipe.js';

export const TRACEFS = '/sys/kernel/tracing';
/**
 * Group and instance names of a run: `gokeylog_<pid>_<pid namespace>_<start time>` (then `…_s<n>` for further
 * sessions of the same process). tracefs is shared by every PID namespace (a container next to the host sees
 * the host's instances): a pid means something only in its namespace, and with the start time a recycled pid
 * is not mistaken for the owner. An owner in another namespace cannot be looked up, but while it lives it holds
 * its instance open and the kernel refuses to remove it (EBUSY). Names of older releases (`gokeylog_<pid>[_n]`)
 * are judged the same way as those of another namespace.
 */
const NAME_PREFIX = 'gokeylog_';
const OUR_NAME = new RegExp(`^${NAME_PREFIX}(\\d+)(?:_(\\d+)_(\\d+))?(?:_s?\\d+)?$`);
let sessions = 0;
const groupName = (session: number): string => `${NAME_PREFIX}${process.pid}_${ownPidNamespace()}_${startTime('self') ?? 0}${session === 0 ? '' : `_s${session}`}`;
/** How often trace_pipe is drained: bounds the delay from a key to its line (reading is non-blocking so stop is immediate). */
const POLL_MS = 10;
/** Per-CPU ring buffer of our instance; each key event takes ~180 bytes, so bursts of thousands of handshakes fit. */
const BUFFER_KB = 4096;

export interface TracefsHandlers {
  onRecord(record: ProbeRecord): void;
  /** Something the user should know (leftovers removed). */
  onNotice(message: string): void;
}

/**
 * Uprobe events on writeKeyLog in a trace instance and event group of this process's own, read from the
 * instance's per-CPU trace_pipe_raw (default: about half the reader CPU of trace_pipe and a much shorter delay
 * tail under load, see bench/keylog) or its text trace_pipe. Every method is synchronous so that cleanup can run on any exit path, even in an
 * 'exit' handler.
 */
export class TracefsProbes {
  readonly group = groupName(sessions++);
  readonly #instance: string;
  readonly #events = new Set<string>();
  readonly #handlers: TracefsHandlers;
  /** An open file of the instance for the session's whole life: the kernel's proof, to any namespace, that it is in use. */
  #hold: number | undefined;
  #pipe: TracePipe | undefined;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;

  private constructor(handlers: TracefsHandlers) {
    this.#handlers = handlers;
    this.#instance = path.join(TRACEFS, 'instances', this.group);
  }

  /** Mounts tracefs if needed, removes leftovers of dead runs, creates our instance and starts reading it. */
  static open(handlers: TracefsHandlers, pipe: TracePipeFormat = 'raw'): TracefsProbes {
    ensureTracefs();
    removeLeftovers(handlers.onNotice);
    const probes = new TracefsProbes(handlers);
    try {
      mkdirSync(probes.#instance);
      probes.#hold = openSync(path.join(probes.#instance, 'trace_marker'), constants.O_WRONLY);
      writeControl(path.join(probes.#instance, 'trace_clock'), 'mono');
      // uprobe events record the thread id; with record-tgid each line also says the thread's process, which
      // stays known after a short-lived target has exited (see ThreadOwners for the fallback).
      writeControl(path.join(probes.#instance, 'options', 'record-tgid'), '1');
      writeControl(path.join(probes.#instance, 'buffer_size_kb'), String(BUFFER_KB));
      probes.#pipe = openTracePipe(pipe, probes.#instance, handlers.onRecord);
    } catch (err) {
      probes.close();
      throw asTracefsError(err, `cannot create trace instance ${probes.#instance}`);
    }
    probes.#schedule();
    return probes;
  }

  /** Defines and enables a writeKeyLog entry probe named `event` at `path:fileOffset`. */
  add(event: string, probePath: string, fileOffset: bigint, args: ProbeArgs): void {
    this.addProbe(event, probePath, fileOffset, tracefsFetchArgs(args));
  }

  /**
   * Defines and enables an entry probe of any kind: its fetchargs, and the decoder of its binary records (the
   * raw reader's; writeKeyLog's when not given).
   */
  addProbe(event: string, probePath: string, fileOffset: bigint, fetchArgs: string, decode?: RecordDecoder): void {
    if (this.#closed) throw new GokeylogError(`cannot add uprobe ${this.group}/${event}: the session has ended.`, 'GOKEYLOG_ERR_TRACEFS');
    appendUprobeEvent(uprobeLine(this.group, event, probePath, fileOffset, fetchArgs));
    this.#events.add(event);
    try {
      this.#pipe!.register(event, path.join(this.#instance, 'events', this.group, event, 'format'), decode);
      writeControl(path.join(this.#instance, 'events', this.group, event, 'enable'), '1');
    } catch (err) {
      this.remove(event);
      throw asTracefsError(err, `cannot enable uprobe ${this.group}/${event}`);
    }
  }

  has(event: string): boolean {
    return this.#events.has(event);
  }

  /** Disables and deletes one probe (the kernel refuses to delete an enabled one). */
  remove(event: string): void {
    if (!this.#events.delete(event)) return;
    this.#disable(event);
    this.#pipe?.unregister(event);
    appendUprobeEvent(`-:${this.group}/${event}`);
  }

  #disable(event: string): void {
    try {
      writeControl(path.join(this.#instance, 'events', this.group, event, 'enable'), '0');
    } catch {
      // not enabled yet, or the instance is already gone: deleting the event is what matters
    }
  }

  /**
   * Reads what is left in the pipe, then removes every probe and the instance (all synchronously). Returns the
   * losses not yet reported as `lost` records: the per-CPU overrun+dropped counts beyond the `[LOST n EVENTS]`
   * markers already passed on.
   */
  close(): { lost: number; drained: Promise<void> } {
    if (this.#closed) return { lost: 0, drained: Promise.resolve() };
    this.#closed = true;
    clearTimeout(this.#timer);
    const failures: string[] = [];
    // Disable first, then read what is left: no hit can land between the last read and the removal.
    for (const event of this.#events) this.#disable(event);
    try {
      this.#pipe?.drain();
    } catch {
      // keep cleaning up
    }
    for (const event of [...this.#events]) {
      try {
        this.remove(event);
      } catch (err) {
        failures.push(err instanceof Error ? err.message : String(err));
      }
    }
    const lost = Math.max(0, ringBufferLosses(this.#instance) - (this.#pipe?.reportedLost ?? 0));
    this.#pipe?.close();
    this.#pipe = undefined;
    if (this.#hold !== undefined) closeSync(this.#hold);
    this.#hold = undefined;
    try {
      if (existsSync(this.#instance)) rmdirSync(this.#instance);
    } catch (err) {
      failures.push(`cannot remove ${this.#instance}: ${errnoReason(err)}`);
    }
    if (failures.length > 0) throw new GokeylogError(`cleanup of tracefs failed: ${failures.join('; ')}.`, 'GOKEYLOG_ERR_TRACEFS');
    return { lost, drained: Promise.resolve() };
  }

  #schedule(): void {
    this.#timer = setTimeout(() => {
      try {
        this.#pipe?.drain();
      } catch (err) {
        this.#handlers.onRecord({ kind: 'malformed', reason: `reading trace_pipe failed: ${(err as Error).message}` });
      }
      if (!this.#closed) this.#schedule();
    }, POLL_MS);
  }
}

function ensureTracefs(): void {
  try {
    accessSync(path.join(TRACEFS, 'uprobe_events'), constants.W_OK);
    return;
  } catch (err) {
    // tracefs is root's alone: without the rights it cannot even be seen, so say that rather than blame the mount.
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EACCES' || code === 'EPERM') throw new GokeylogError('uprobes need root (CAP_SYS_ADMIN): run gokeylog keylog as root.', 'GOKEYLOG_ERR_TRACEFS');
  }
  const r = spawnSync('mount', ['-t', 'tracefs', 'nodev', TRACEFS], { encoding: 'utf8' });
  if (r.status !== 0 || !existsSync(path.join(TRACEFS, 'uprobe_events'))) {
    const why = (r.stderr || r.error?.message || 'no uprobe_events after mounting').trim().split('\n')[0];
    throw new GokeylogError(`tracefs is not available at ${TRACEFS} and mounting it failed (${why}); the kernel needs CONFIG_UPROBE_EVENTS.`, 'GOKEYLOG_ERR_TRACEFS');
  }
}

/** tracefs files do not seek: write whole lines through a write-only, append-mode descriptor. */
function writeControl(file: string, value: string): void {
  const fd = openSync(file, constants.O_WRONLY | constants.O_APPEND);
  try {
    writeSync(fd, `${value}\n`);
  } finally {
    closeSync(fd);
  }
}

/** Adds or deletes (`-:GROUP/EVENT`) a uprobe; on refusal, says what the kernel's error_log says. */
function appendUprobeEvent(line: string): void {
  try {
    writeControl(path.join(TRACEFS, 'uprobe_events'), line);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EACCES' || code === 'EPERM') {
      throw new GokeylogError('writing uprobe events needs root (CAP_SYS_ADMIN).', 'GOKEYLOG_ERR_NEEDS_ROOT', { cause: err });
    }
    const detail = lastKernelError();
    throw new GokeylogError(`the kernel refused the uprobe "${line}" (${code}${detail ? `: ${detail}` : ''}).`, 'GOKEYLOG_ERR_TRACEFS', { cause: err });
  }
}

/** The last "error: …" of tracefs' error_log, where the kernel says why a probe definition was refused. */
function lastKernelError(): string | undefined {
  try {
    const errors = readFileSync(path.join(TRACEFS, 'error_log'), 'utf8').match(/error: .*/g);
    return errors?.at(-1);
  } catch {
    return undefined;
  }
}

function ringBufferLosses(instance: string): number {
  let lost = 0;
  try {
    for (const cpu of readdirSync(path.join(instance, 'per_cpu'))) {
      const stats = readFileSync(path.join(instance, 'per_cpu', cpu, 'stats'), 'utf8');
      for (const m of stats.matchAll(/^(?:overrun|dropped events): (\d+)$/gm)) lost += Number(m[1]);
    }
  } catch {
    // instance gone: nothing more to learn
  }
  return lost;
}

/** This process's PID namespace, as the inode number the kernel names it by (`pid:[4026531836]`). */
function ownPidNamespace(): string {
  return /\[(\d+)\]/.exec(readlinkSync('/proc/self/ns/pid'))?.[1] ?? '0';
}

/**
 * Whether the run that made instance or group `name` is certainly gone: in our PID namespace, no process has its
 * pid and start time; elsewhere (or for an older name) we cannot tell, and only the kernel can (see removeLeftovers).
 */
function ownerState(name: string): 'dead' | 'alive' | 'unknown' | 'not ours' {
  const m = OUR_NAME.exec(name);
  if (!m) return 'not ours';
  if (m[2] === undefined || m[2] !== ownPidNamespace()) return 'unknown';
  return startTime(Number(m[1])) === m[3] ? 'alive' : 'dead';
}

/**
 * Removes the instances and uprobe events of earlier runs that died (a `kill -9` leaves them), never those of a
 * live run. The instance goes first, which disables its events, then the events themselves. A live run holds its
 * instance open, so that the kernel refuses to remove it (EBUSY): for an owner we cannot look up (another PID
 * namespace), that refusal is the answer, and its events are left alone with it.
 */
function removeLeftovers(notice: (message: string) => void): void {
  const instances = path.join(TRACEFS, 'instances');
  const present = new Set(readdirSync(instances));
  for (const name of present) {
    const owner = ownerState(name);
    if (owner === 'not ours' || owner === 'alive') continue;
    try {
      rmdirSync(path.join(instances, name));
      present.delete(name);
      notice(`removed trace instance ${name} left behind by a run that died`);
    } catch (err) {
      // In use: the run is alive in a namespace we cannot see into (or something reads its buffer).
      if ((err as NodeJS.ErrnoException).code === 'EBUSY') continue;
      notice(`cannot remove trace instance ${name} left behind by a run that died: ${errnoReason(err)}`);
    }
  }
  const defined = readFileSync(path.join(TRACEFS, 'uprobe_events'), 'utf8');
  for (const m of defined.matchAll(/^[pr]:(\S+)\/(\S+) /gm)) {
    const group = m[1]!;
    // A group's instance exists from before its first event to after its last: an owner we cannot look up whose
    // instance is still there (in use) may be alive; without it, the events are left over.
    const owner = ownerState(group);
    if (owner === 'not ours' || owner === 'alive' || (owner === 'unknown' && present.has(group))) continue;
    try {
      appendUprobeEvent(`-:${m[1]}/${m[2]}`);
      notice(`removed uprobe ${m[1]}/${m[2]} left behind by a run that died`);
    } catch (err) {
      notice(err instanceof Error ? err.message : String(err));
    }
  }
}

function asTracefsError(err: unknown, what: string): GokeylogError {
  if (err instanceof GokeylogError) return err;
  const code = (err as NodeJS.ErrnoException).code;
  const why = code === 'EACCES' || code === 'EPERM' ? 'needs root (CAP_SYS_ADMIN)' : errnoReason(err);
  return new GokeylogError(`${what}: ${why}.`, 'GOKEYLOG_ERR_TRACEFS', { cause: err });
}
