import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { PassThrough, type Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { GokeylogError } from '../util/errors.js';

export interface TcpdumpOptions {
  /** Interface name, or "any". */
  iface: string;
  /** A pcap filter expression. */
  filter?: string;
  /** Capture inside the network namespace of this process (its /proc/PID/ns/net). */
  netnsPid?: number;
  /** How long to wait for tcpdump to say it listens. */
  startTimeoutMs?: number;
}

/** What tcpdump prints on stderr when it stops. */
export interface TcpdumpStats {
  captured: number | null;
  receivedByFilter: number | null;
  droppedByKernel: number | null;
}

const KERNEL_BUFFER_KIB = 64 * 1024;
/** tcpdump's answer to SIGUSR1. */
const COUNTERS = /^tcpdump: \d+ packets? captured, \d+ packets? received by filter, (\d+) packets? dropped by kernel$/;
const DEFAULT_START_TIMEOUT_MS = 10_000;
const STOP_TIMEOUT_MS = 5_000;
/**
 * tcpdump drops what is still in the kernel ring when SIGINT arrives, and on a busy machine it may not have
 * been scheduled since the last packets came: stop gives it this long, and waits until its output has been
 * quiet this long (bounded by MAX_DRAIN_MS).
 */
const QUIET_MS = 300;
const MAX_DRAIN_MS = 3_000;
/** setpriv's and nsenter's exit code when they cannot execute the next program. */
const EXEC_FAILED = 127;

/** The command line: tcpdump, optionally inside a netns, killed by the kernel if we die first. */
export function tcpdumpCommand(opts: TcpdumpOptions): string[] {
  // -Z root: dropping to the tcpdump user would change credentials, which clears the parent-death signal.
  // --immediate-mode -U: every packet reaches the pipe at once (live view, nothing lost at stop).
  // -B: in immediate mode the kernel ring holds buffer/snaplen frames, only 8 by default: a burst on a busy
  // machine overflows it ("dropped by kernel") before tcpdump is scheduled. 64 MiB holds 256 full frames.
  const tcpdump = ['tcpdump', '-i', opts.iface, '-Z', 'root', '-U', '--immediate-mode', '-B', String(KERNEL_BUFFER_KIB), '--time-stamp-precision=nano', '-w', '-'];
  if (opts.filter !== undefined && opts.filter.trim() !== '') tcpdump.push(opts.filter);
  const netns = opts.netnsPid === undefined ? [] : ['nsenter', `--net=/proc/${opts.netnsPid}/ns/net`, '--'];
  return ['setpriv', '--pdeathsig', 'KILL', '--', ...netns, ...tcpdump];
}

/**
 * Compiles a capture filter with tcpdump itself (`-d`, on the `any` pseudo-interface, in the host namespace)
 * without capturing anything: a typo must be refused before any probe is attached or namespace entered.
 */
export async function checkFilter(filter: string): Promise<void> {
  if (filter.trim() === '') return;
  const child = spawn('tcpdump', ['-d', '-i', 'any', filter], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', (err: NodeJS.ErrnoException) => reject(new GokeylogError(`cannot run tcpdump to check the filter: ${err.code ?? err.message}.`, 'GOKEYLOG_ERR_TOOL')));
    child.once('close', resolve);
  });
  if (code !== 0) {
    const why = stderr.split('\n').filter((l) => l && !l.startsWith('tcpdump: data link type') && !l.startsWith('(')).join('; ').replace(/^tcpdump: /, '');
    throw new GokeylogError(`the capture filter ${JSON.stringify(filter)} is not valid: ${why || `tcpdump exited with ${code}`}.`, 'GOKEYLOG_ERR_USAGE');
  }
}

/** The counters of tcpdump's exit report; null for a line it did not print. */
export function parseTcpdumpStats(stderr: string): TcpdumpStats {
  const count = (what: string): number | null => {
    const m = new RegExp(`^(\\d+) packets? ${what}$`, 'm').exec(stderr);
    return m ? Number(m[1]) : null;
  };
  return { captured: count('captured'), receivedByFilter: count('received by filter'), droppedByKernel: count('dropped by kernel') };
}

/** A running tcpdump writing pcap to `output`. */
export class Tcpdump {
  readonly #child: ChildProcessByStdio<null, Readable, Readable>;
  readonly #exited: Promise<number | null>;
  readonly #output = new PassThrough({ highWaterMark: 1 << 20 });
  #lastOutputAt = performance.now();
  #stderr = '';
  /** Where the next unread line of stderr starts (for the counters tcpdump prints on SIGUSR1). */
  #stderrRead = 0;
  #dropped = 0;
  #onDropped: ((newly: number, total: number) => void) | undefined;
  #stopping: Promise<TcpdumpStats> | undefined;

  private constructor(child: ChildProcessByStdio<null, Readable, Readable>) {
    this.#child = child;
    this.#exited = new Promise((resolve) => {
      child.once('exit', (code) => resolve(code));
      child.once('error', () => resolve(null));
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      this.#stderr += chunk;
      this.#readCounters();
    });
    // Relayed (with backpressure) so that stop() can tell when tcpdump last wrote.
    child.stdout.on('data', (chunk: Buffer) => {
      this.#lastOutputAt = performance.now();
      if (this.#output.destroyed) return; // the reader gave up (e.g. its output closed): discard
      if (!this.#output.write(chunk)) {
        child.stdout.pause();
        this.#output.once('drain', () => child.stdout.resume());
      }
    });
    child.stdout.once('end', () => this.#output.end());
  }

  /** Starts tcpdump and resolves once it listens; rejects with tcpdump's own complaint otherwise. */
  static async start(opts: TcpdumpOptions): Promise<Tcpdump> {
    const [command, ...args] = tcpdumpCommand(opts);
    // Its own process group: a Ctrl-C meant for us must not stop tcpdump before we have read its last packets.
    const child = spawn(command!, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    const tcpdump = new Tcpdump(child);
    try {
      await tcpdump.#listening(opts.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS);
    } catch (err) {
      await tcpdump.stop();
      throw err;
    }
    return tcpdump;
  }

  /**
   * Asks tcpdump for its counters (SIGUSR1: it prints them and goes on) and tells `onDropped` when the kernel
   * dropped packets since the last answer: a capture that misses traffic says so while it runs, not only at the end.
   */
  watchDrops(onDropped: (newly: number, total: number) => void): void {
    this.#onDropped = onDropped;
    if (this.#child.exitCode === null && this.#child.signalCode === null && !this.#stopping) this.#child.kill('SIGUSR1');
  }

  /** Packets the kernel dropped, as tcpdump last counted them (see watchDrops). */
  get dropped(): number {
    return this.#dropped;
  }

  /** "tcpdump: 12 packets captured, 12 packets received by filter, 3 packets dropped by kernel" (SIGUSR1's answer). */
  #readCounters(): void {
    for (;;) {
      const end = this.#stderr.indexOf('\n', this.#stderrRead);
      if (end < 0) return;
      const line = this.#stderr.slice(this.#stderrRead, end);
      this.#stderrRead = end + 1;
      const m = COUNTERS.exec(line);
      if (!m) continue;
      const total = Number(m[1]);
      if (total > this.#dropped) this.#onDropped?.(total - this.#dropped, total);
      this.#dropped = Math.max(this.#dropped, total);
    }
  }

  /** The pcap stream. */
  get output(): Readable {
    return this.#output;
  }

  get pid(): number | undefined {
    return this.#child.pid;
  }

  /** Resolves when tcpdump exits on its own or is stopped: a capture must not outlive it unnoticed. */
  get exited(): Promise<number | null> {
    return this.#exited;
  }

  /** What tcpdump said last (for error messages). */
  get lastMessage(): string {
    return lastLine(this.#stderr);
  }

  /**
   * Lets tcpdump write what the kernel already holds, then SIGINT (SIGKILL if it lingers) and waits for the
   * exit; idempotent. The output stream ends after the last packet.
   */
  stop(): Promise<TcpdumpStats> {
    this.#stopping ??= (async () => {
      if (this.#running()) await this.#quiet();
      if (this.#running()) this.#child.kill('SIGINT');
      const timer = setTimeout(() => this.#child.kill('SIGKILL'), STOP_TIMEOUT_MS);
      try {
        await this.#exited;
      } finally {
        clearTimeout(timer);
      }
      return parseTcpdumpStats(this.#stderr);
    })();
    return this.#stopping;
  }

  #running(): boolean {
    return this.#child.exitCode === null && this.#child.signalCode === null;
  }

  async #quiet(): Promise<void> {
    const start = performance.now();
    const deadline = start + MAX_DRAIN_MS;
    for (;;) {
      const wait = Math.min(Math.max(this.#lastOutputAt, start) + QUIET_MS, deadline) - performance.now();
      if (wait <= 0 || !this.#running()) return;
      await sleep(wait);
    }
  }

  #listening(timeoutMs: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const check = (): void => {
        if (/^tcpdump: listening on /m.test(this.#stderr)) done();
      };
      const timer = setTimeout(() => done(new GokeylogError(`tcpdump did not start listening within ${timeoutMs / 1000} s.`, 'GOKEYLOG_ERR_TOOL')), timeoutMs);
      const onExit = (code: number | null): void => done(startFailure(code, this.#stderr));
      const onError = (err: NodeJS.ErrnoException): void =>
        done(new GokeylogError(`cannot run setpriv (util-linux) to start tcpdump: ${err.code ?? err.message}.`, 'GOKEYLOG_ERR_TOOL'));
      const done = (err?: Error): void => {
        clearTimeout(timer);
        this.#child.stderr.off('data', check);
        this.#child.off('exit', onExit);
        this.#child.off('error', onError);
        if (err) reject(err);
        else resolve();
      };
      this.#child.stderr.on('data', check);
      this.#child.once('exit', onExit);
      this.#child.once('error', onError);
    });
  }
}

function startFailure(code: number | null, stderr: string): GokeylogError {
  if (code === EXEC_FAILED && /tcpdump/.test(stderr)) {
    return new GokeylogError('tcpdump is not installed (apt-get install tcpdump).', 'GOKEYLOG_ERR_TOOL');
  }
  // tcpdump says what is wrong on a "tcpdump: …" line; what follows it is detail like "(No such device exists)".
  const why = stderr.split('\n').filter((l) => l.startsWith('tcpdump: ') && !COUNTERS.test(l)).pop() ?? (lastLine(stderr) || `exit code ${code ?? 'by signal'}`);
  return new GokeylogError(`tcpdump could not start: ${why.replace(/^tcpdump: /, '').replace(/\.?$/, '.')}`, 'GOKEYLOG_ERR_TOOL');
}

/** The last thing tcpdump said, its counters (printed on SIGUSR1, see watchDrops) aside. */
function lastLine(text: string): string {
  return text.trim().split('\n').filter((l) => l && !COUNTERS.test(l)).pop() ?? '';
}
