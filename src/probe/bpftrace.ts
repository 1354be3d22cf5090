import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { GokeylogError } from '../util/errors.js';
import { BPFTRACE_READY_LINE, bpftraceProbe, parseBpftraceLine } from './bpftraceScript.js';
import type { ProbeRecord } from './events.js';
import type { ProbeArgs } from './fetchArgs.js';

/**
 * One `bpftrace --unsafe` process per hooked binary, so binaries can come and go without restarting the
 * others. Each child is started under `setpriv --pdeathsig KILL`: if this process is killed, its
 * bpftrace dies too and the kernel detaches the probe.
 */
export class BpftraceProbes {
  readonly #children = new Map<string, ChildProcess>();
  /** Settle when each child has exited and its output has been read. */
  readonly #exits: Promise<void>[] = [];
  readonly #onRecord: (record: ProbeRecord) => void;

  constructor(onRecord: (record: ProbeRecord) => void) {
    if (spawnSync('bpftrace', ['--version']).status !== 0) {
      throw new GokeylogError('bpftrace is not installed (it is only needed with --backend bpftrace).', 'GOKEYLOG_ERR_TOOL');
    }
    this.#onRecord = onRecord;
  }

  /** Starts bpftrace on one binary; resolves once it has attached, rejects with its own error otherwise. */
  add(event: string, probePath: string, fileOffset: bigint, args: ProbeArgs): Promise<void> {
    const script = bpftraceProbe({ path: probePath, fileOffset, arch: args.arch, args: args.args });
    const child = spawn('setpriv', ['--pdeathsig', 'KILL', 'bpftrace', '--unsafe', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.#children.set(event, child);
    this.#exits.push(new Promise((resolve) => child.once('close', () => resolve())));
    return new Promise((resolve, reject) => {
      let attached = false;
      let lastError = '';
      const onLine = (line: string): void => {
        if (!attached && line === BPFTRACE_READY_LINE) {
          attached = true;
          resolve();
          return;
        }
        if (/^ERROR/.test(line) && !/RLIMIT_MEMLOCK/.test(line)) lastError = line;
        const record = parseBpftraceLine(line, event);
        if (record.kind !== 'other') this.#onRecord(record);
      };
      createInterface({ input: child.stdout! }).on('line', onLine);
      createInterface({ input: child.stderr! }).on('line', onLine);
      child.on('error', (err) => reject(new GokeylogError(`cannot run bpftrace: ${err.message}.`, 'GOKEYLOG_ERR_TOOL')));
      child.on('exit', (code, signal) => {
        this.#children.delete(event);
        if (!attached) {
          reject(new GokeylogError(`bpftrace could not attach to ${probePath} (${lastError || `exit ${code ?? signal}`}).`, 'GOKEYLOG_ERR_TOOL'));
        } else if (code !== 0 && signal === null) {
          this.#onRecord({ kind: 'malformed', reason: `bpftrace on ${probePath} exited with ${code}: ${lastError}` });
        }
      });
    });
  }

  /** bpftrace detaches its probes when interrupted. */
  remove(event: string): void {
    this.#children.get(event)?.kill('SIGINT');
    this.#children.delete(event);
  }

  close(): { lost: number; drained: Promise<void> } {
    for (const event of [...this.#children.keys()]) this.remove(event);
    // bpftrace reports losses in its output, and those were passed on as records.
    return { lost: 0, drained: Promise.all(this.#exits).then(() => undefined) };
  }
}
