import { EventEmitter } from 'node:events';
import path from 'node:path';
import { planHook, type HookPlan } from '../golang/index.js';
import { escapeControl } from '../util/terminal.js';
import { missingHookCapabilities, needRootMessage } from './privileges.js';
import { validateKeyEvent } from '../keylog/index.js';
import { GokeylogError, isVerdictOnBinary } from '../util/errors.js';
import { BpftraceProbes } from './bpftrace.js';
import type { KeyEvent, ProbeRecord, RawKeyEvent } from './events.js';
import type { ProbeArgs } from './fetchArgs.js';
import { RecentKeys } from './recentKeys.js';
import { binaryId, groupByBinary, processInfo, resolveTargets, targetMatcher, ThreadOwners, type BinaryGroup, type TargetProcess, type TargetSpec } from './targets.js';
import { TracefsProbes } from './tracefs.js';
import type { TracePipeFormat } from './tracePipe.js';

export type ProbeBackendName = 'tracefs' | 'bpftrace';

export interface KeyCaptureOptions {
  backend?: ProbeBackendName;
  /** Keep looking for targets: a restarted target (even onto an upgraded binary at the same path) is hooked again. */
  follow?: boolean;
  /** How often targets are re-resolved when --exe, --process or follow ask for it. */
  pollMs?: number;
  /** Told what happens: probes attached and removed, targets refused, leftovers of dead runs removed. */
  onNotice?: (message: string) => void;
  /** tracefs backend: read its binary pages (trace_pipe_raw, the default) or the kernel's text rendering (trace_pipe). */
  tracePipe?: TracePipeFormat;
  /**
   * Removes every probe at once when this aborts, as stop() does (call stop() for the final counts). The CLI
   * aborts it on SIGINT/SIGTERM/SIGHUP and at process exit: a library installs no process-wide handlers.
   */
  signal?: AbortSignal;
}

export interface KeyCaptureStats {
  backend: ProbeBackendName;
  /** Processes that were hooked at some point. */
  processes: number;
  /** Binaries a probe was attached to at some point. */
  binaries: number;
  keys: number;
  duplicates: number;
  rejects: number;
  /** Events the trace buffers dropped. */
  lost: number;
  /** Hits in processes of a hooked binary that were not selected. */
  ignored: number;
}

interface SessionEvents {
  key: [KeyEvent];
  reject: [string];
}

interface ProbeBackend {
  add(event: string, probePath: string, fileOffset: bigint, args: ProbeArgs): void | Promise<void>;
  remove(event: string): void;
  /** Detaches everything now; the promise settles when the last output has been read. */
  close(): { lost: number; drained: Promise<void> };
}

const DEFAULT_POLL_MS = 500;

/** See src/probe/index.ts for the contract. */
export class KeyCaptureSession extends EventEmitter<SessionEvents> {
  readonly #spec: TargetSpec;
  readonly #options: Required<Omit<KeyCaptureOptions, 'onNotice' | 'tracePipe' | 'signal'>>;
  readonly #signal: AbortSignal | undefined;
  readonly #notice: (message: string) => void;
  readonly #backend: ProbeBackend;
  readonly #recent = new RecentKeys();
  readonly #owners = new ThreadOwners();
  readonly #plans = new Map<string, HookPlan>();
  readonly #refused = new Set<string>();
  /** binary → probe event name, for hooked binaries. */
  readonly #hooked = new Map<string, string>();
  readonly #probeBinary = new Map<string, string>();
  #selected = new Map<number, TargetProcess>();
  readonly #followPaths = new Set<string>();
  /** dev:ino of the --exe files as last resolved. */
  readonly #exeBinaries = new Set<string>();
  readonly #everHooked = new Set<number>();
  readonly #stats: KeyCaptureStats;
  #nextEvent = 0;
  #timer: NodeJS.Timeout | undefined;
  #reconciling = false;
  /** The first reconcile is over: processes selected from now on are announced when --follow found them. */
  #started = false;
  #stopped = false;
  /** Records read before start() returned, when nobody listened yet. */
  #early: ProbeRecord[] | undefined = [];
  readonly #monoToWallNs = BigInt(Date.now()) * 1_000_000n - process.hrtime.bigint();
  readonly #onAbort = (): void => this.#cleanup();

  private constructor(spec: TargetSpec, options: KeyCaptureOptions) {
    super();
    this.#spec = spec;
    this.#options = { backend: options.backend ?? 'tracefs', follow: options.follow ?? false, pollMs: options.pollMs ?? DEFAULT_POLL_MS };
    this.#notice = options.onNotice ?? (() => {});
    this.#signal = options.signal;
    this.#stats = { backend: this.#options.backend, processes: 0, binaries: 0, keys: 0, duplicates: 0, rejects: 0, lost: 0, ignored: 0 };
    const onRecord = (r: ProbeRecord): void => (this.#early ? void this.#early.push(r) : this.#onRecord(r));
    this.#backend = this.#options.backend === 'bpftrace' ? new BpftraceProbes(onRecord) : TracefsProbes.open({ onRecord, onNotice: this.#notice }, options.tracePipe);
  }

  static async start(spec: TargetSpec, options: KeyCaptureOptions = {}): Promise<KeyCaptureSession> {
    checkSpec(spec);
    // The caller aborts options.signal from before start(): a Ctrl-C while the binaries are read (or at any
    // later point) must end the run with nothing left in the kernel.
    const signal = options.signal;
    // Refuse early, before touching the kernel, where the entry cannot be validated.
    for (const exe of spec.exes) if (!signal?.aborted) await planHook(exe);
    const session = new KeyCaptureSession(spec, options);
    signal?.addEventListener('abort', session.#onAbort, { once: true });
    if (signal?.aborted) session.#onAbort();
    try {
      await session.#reconcile(true);
      session.#started = true;
    } catch (err) {
      await session.stop().catch(() => undefined);
      // Stopped by the signal while the targets were hooked: the run ends cleanly, the caller sees the abort.
      if (!signal?.aborted) throw err;
    }
    // Polled also for --pid alone: a hooked process that exits is told, and its probe removed.
    if (!session.#stopped) session.#schedule();
    // The caller attaches its listeners when start() resolves; hand over what was read meanwhile after that.
    setImmediate(() => session.#flushEarly());
    return session;
  }

  get stats(): Readonly<KeyCaptureStats> {
    return this.#stats;
  }

  /** Processes currently selected (and hooked). */
  get targets(): TargetProcess[] {
    return [...this.#selected.values()];
  }

  /**
   * Removes every probe (synchronously, before the first await) and resolves with the final counts once the
   * backend's last output has been read. Safe to call more than once; rejects only if the kernel refused the cleanup.
   */
  async stop(): Promise<KeyCaptureStats> {
    await this.#detach();
    this.#flushEarly();
    return this.#stats;
  }

  #drained: Promise<void> | undefined;

  #detach(): Promise<void> {
    if (this.#drained) return this.#drained;
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#signal?.removeEventListener('abort', this.#onAbort);
    try {
      const { lost, drained } = this.#backend.close();
      this.#stats.lost += lost;
      this.#drained = drained;
    } catch (err) {
      this.#drained = Promise.reject(err);
    }
    return this.#drained;
  }

  #cleanup(): void {
    this.#detach().catch(() => {
      // on the way out there is nobody left to tell
    });
  }

  #flushEarly(): void {
    const early = this.#early ?? [];
    this.#early = undefined;
    for (const r of early) this.#onRecord(r);
  }

  #polls(): boolean {
    return this.#options.follow || this.#spec.exes.length > 0 || this.#spec.processes.length > 0;
  }

  #schedule(): void {
    this.#timer = setTimeout(() => {
      this.#reconcile(false)
        .catch((err: unknown) => this.#notice(err instanceof Error ? err.message : String(err)))
        .finally(() => {
          if (!this.#stopped) this.#schedule();
        });
    }, this.#options.pollMs);
  }

  /** Brings probes in line with the processes selected now: hooks new binaries, unhooks unused ones. */
  async #reconcile(initial: boolean): Promise<void> {
    if (this.#reconciling) return;
    this.#reconciling = true;
    try {
      const processes = resolveTargets(this.#spec, this.#followPaths);
      const groups = groupByBinary(processes);
      // An --exe file is hooked even before any process runs it: a uprobe lives on the inode, so a process
      // started later is traced from its first handshake.
      const exeGroups = this.#exeBinaries;
      exeGroups.clear();
      for (const exe of this.#spec.exes) {
        const binary = binaryId(exe);
        if (binary === undefined) continue;
        exeGroups.add(binary);
        if (!groups.some((g) => g.binary === binary)) groups.push({ binary, probePath: path.resolve(exe), pids: [] });
      }
      for (const g of groups) {
        const explicit = exeGroups.has(g.binary) || this.#spec.pids.some((pid) => g.pids.includes(pid));
        if (!this.#hooked.has(g.binary) && !this.#refused.has(g.binary)) await this.#hook(g, initial && explicit);
        if (this.#stopped) return;
      }
      const wanted = new Set(groups.filter((g) => this.#hooked.has(g.binary)).map((g) => g.binary));
      if (!initial) {
        for (const [binary, event] of this.#hooked) {
          if (wanted.has(binary)) continue;
          this.#backend.remove(event);
          this.#hooked.delete(binary);
          this.#notice(`unhooked ${event}: no selected process runs that binary any more`);
        }
      }
      const gone = [...this.#selected.keys()].filter((pid) => !processes.some((p) => p.pid === pid));
      if (this.#options.follow) {
        for (const pid of gone) {
          const p = this.#selected.get(pid)!;
          this.#notice(`pid ${pid} (${p.comm}) exited; --follow hooks ${p.exePath} again when it restarts`);
        }
      }
      this.#owners.forget(gone);
      const exited = gone.map((pid) => this.#selected.get(pid)!);
      this.#selected = new Map(processes.filter((p) => this.#hooked.has(p.binary)).map((p) => [p.pid, p]));
      for (const p of this.#selected.values()) this.#select(p);
      for (const p of exited) {
        const left = this.#selected.size === 0 && !this.#polls() ? '; no hooked process is left: stop with Ctrl-C' : '';
        this.#notice(`hooked process ${p.pid} (${p.comm}) exited${left}`);
      }
      if (initial && this.#selected.size === 0 && !this.#polls()) {
        throw new GokeylogError('no target process could be hooked.', 'GOKEYLOG_ERR_NO_SUCH_PROCESS');
      }
    } finally {
      this.#reconciling = false;
    }
  }

  /**
   * Counts and selects a process found through its hits, when it runs the probe's binary. A process that is gone
   * (a server that exits a few ms after its last handshake, before the next read) is counted, not selected, when
   * the kernel's record names it: the kernel records a thread's process when the thread is switched out after an
   * event, so the record of a thread that is gone is its own. A stale record (a recycled thread id still naming its
   * previous user) exists only while the thread has not run since, and then /proc answers first.
   */
  #noteProcess(pid: number, binary: string | undefined, recordedByKernel: boolean): void {
    if (this.#everHooked.has(pid)) return;
    const p = processInfo(pid);
    if (p) {
      if (p.binary === binary) this.#select(p);
    } else if (recordedByKernel) {
      this.#everHooked.add(pid);
      this.#stats.processes++;
    }
  }

  #select(p: TargetProcess): void {
    if (!this.#everHooked.has(p.pid)) {
      // A process that only --follow selects (it runs a followed path, and no --pid named it) is a restart.
      if (this.#started && this.#options.follow && this.#followPaths.has(p.exePath) && !this.#spec.pids.includes(p.pid)) {
        this.#notice(`--follow: ${p.exePath} runs again as pid ${p.pid} (${p.comm}); its keys are captured from now on`);
      }
      this.#everHooked.add(p.pid);
      this.#stats.processes++;
      this.#owners.learn(p.pid);
    }
    this.#selected.set(p.pid, p);
    if (this.#options.follow) this.#followPaths.add(p.exePath);
  }

  /** Plans and attaches a probe for one binary. A refusal is fatal for an explicit --pid, a notice otherwise. */
  async #hook(g: BinaryGroup, mustSucceed: boolean): Promise<void> {
    let plan = this.#plans.get(g.binary);
    try {
      plan ??= await planHook(g.probePath);
      this.#plans.set(g.binary, plan);
      // Stopped (a signal) while the binary was read: attach nothing any more.
      if (this.#stopped) return;
      const event = `wkl${this.#nextEvent++}`;
      await this.#backend.add(event, g.probePath, plan.fileOffset, plan);
      this.#hooked.set(g.binary, event);
      this.#probeBinary.set(event, g.binary);
      this.#stats.binaries++;
      this.#notice(`hooked ${plan.goVersion} ${plan.abi}-ABI writeKeyLog at file offset 0x${plan.fileOffset.toString(16)} of ${g.probePath} (${who(g)})`);
    } catch (err) {
      if (mustSucceed || this.#stopped) throw namingProgram(err, g);
      // A verdict on the binary is final; anything else (its process exited while it was read) is retried at the next poll.
      if (isVerdictOnBinary(err)) this.#refused.add(g.binary);
      this.#notice(`not hooking ${g.probePath} (${who(g)}): ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  #onRecord(record: ProbeRecord): void {
    if (record.kind === 'lost') this.#stats.lost += record.count;
    else if (record.kind === 'malformed') this.#reject(record.reason);
    else if (record.kind === 'key') this.#onKey(record.event);
  }

  #reject(reason: string): void {
    this.#stats.rejects++;
    this.emit('reject', reason);
  }

  #onKey(raw: RawKeyEvent): void {
    // /proc first: the kernel's recorded tgid (saved_tgids) is updated only at a later context switch, so a
    // recycled thread id can still name the process that used it before. It is the answer once the thread is gone.
    const live = this.#owners.ownerOf(raw.tid);
    const owner = live ?? raw.tgid ?? raw.tgidOf?.(raw.tid);
    if (!this.#isSelected(owner, raw)) {
      this.#stats.ignored++;
      return;
    }
    // A thread whose process is already gone when its hit is read: its thread id is the best name left (not
    // counted as a process of its own).
    const pid = owner ?? raw.tid;
    if (owner !== undefined) this.#noteProcess(owner, this.#probeBinary.get(raw.probe), live === undefined);
    const label = Buffer.from(raw.label.buffer, raw.label.byteOffset, raw.label.byteLength).toString('latin1');
    const why = validateKeyEvent(label, raw.clientRandom, raw.secret);
    if (why) return this.#reject(`pid ${pid}: ${why}`);
    if (!this.#recent.add(label, raw.clientRandom, raw.secret)) {
      this.#stats.duplicates++;
      return;
    }
    this.#stats.keys++;
    const time = new Date(Number((raw.timeNs + this.#monoToWallNs) / 1_000_000n));
    this.emit('key', { label, clientRandom: raw.clientRandom, secret: raw.secret, pid, comm: raw.comm, time, timeNs: raw.timeNs });
  }

  /**
   * Whether a hit belongs to a selected process. Every process of an --exe binary is wanted, so its probe's
   * hits need no lookup (a short-lived client may be gone before its hits are read). A process of a hooked
   * binary that started since the last poll is checked right away; if it is already gone, its command name
   * (read by the probe) still says whether --process wanted it.
   */
  #isSelected(pid: number | undefined, raw: RawKeyEvent): boolean {
    if (pid !== undefined && this.#selected.has(pid)) return true;
    const binary = this.#probeBinary.get(raw.probe);
    if (binary !== undefined && this.#exeBinaries.has(binary)) return true;
    if (!this.#polls()) return false;
    if (pid === undefined || !processInfo(pid)) return this.#spec.processes.some((name) => name.slice(0, 15) === raw.comm);
    const p = targetMatcher(this.#spec, this.#followPaths)(pid);
    if (!p || p.binary !== binary) return false;
    this.#select(p);
    return true;
  }
}

const who = (g: BinaryGroup): string => (g.pids.length > 0 ? `pids ${g.pids.join(', ')}` : 'for the processes it will run');

function checkSpec(spec: TargetSpec): void {
  if (spec.pids.length + spec.exes.length + spec.processes.length === 0) {
    throw new GokeylogError('say which processes to hook: --pid PID, --exe PATH or --process NAME.', 'GOKEYLOG_ERR_USAGE');
  }
  // Without the capabilities every later step fails in its own way ("no process with pid 1"): say the cause.
  const missing = missingHookCapabilities();
  if (missing.length) throw new GokeylogError(needRootMessage(missing), 'GOKEYLOG_ERR_NEEDS_ROOT');
  for (const pid of spec.pids) {
    if (!Number.isSafeInteger(pid) || pid <= 0) throw new GokeylogError(`${pid} is not a process id.`, 'GOKEYLOG_ERR_USAGE');
    if (!processInfo(pid)) throw new GokeylogError(`no process with pid ${pid} (or it has no executable to hook).`, 'GOKEYLOG_ERR_NO_SUCH_PROCESS');
  }
}

/** "pid 4242 (sleep, /usr/bin/sleep)": a refusal names the program, not /proc/4242/exe. */
function programOf(g: BinaryGroup): string {
  const p = g.pids.length ? processInfo(g.pids[0]!) : undefined;
  return p ? `pid ${p.pid} (${escapeControl(p.comm)}, ${escapeControl(p.exePath)})` : g.probePath;
}

function namingProgram(err: unknown, g: BinaryGroup): unknown {
  if (!(err instanceof GokeylogError) || !err.message.startsWith(g.probePath)) return err;
  return new GokeylogError(`${programOf(g)}${err.message.slice(g.probePath.length)}`, err.code, { cause: err });
}
