/**
 * `gokeylog keylog` as a feature: probe the targets' writeKeyLog and write every key as it comes, as NSS key
 * log lines (to a 0600 file, or standard output) or as JSON records without the secret, until the stop
 * signal, the duration, a closed standard output or a failed write; the probes are removed on every way out.
 */
import { sweepMidstreamLines } from '../conns/index.js';
import { bytesToHex, formatKeyLogLine } from '../keylog/index.js';
import { KeyLogWriter, startKeyCapture, type KeyCaptureStats, type KeyEvent, type ProbeBackendName, type TargetSpec, type TracePipeFormat } from '../probe/index.js';
import { setLongTimeout, type LongTimeout } from '../util/longTimeout.js';
import { SecretOutput } from '../util/secretFile.js';

export interface RunKeylogOptions {
  targets: TargetSpec;
  /** Append key log lines to this file (created 0600) instead of standard output. */
  keyLogFile?: string;
  /** One JSON object per key on standard output (time, pid, comm, label, clientRandom; never the secret). */
  json: boolean;
  backend: ProbeBackendName;
  follow: boolean;
  tracePipe: TracePipeFormat;
  /** Stop after this long (ms); otherwise when `signal` aborts. */
  durationMs?: number;
  /** Also sweep the connections open at the start (as `gokeylog conns`) and write their mid-stream lines. */
  midstream: boolean;
  /** The CLI's stop signal (SIGINT/SIGTERM/SIGHUP); the probes are removed at once when it aborts. */
  signal: AbortSignal;
}

export interface RunKeylogIo {
  stdout: NodeJS.WritableStream;
  onNotice(message: string): void;
  /** The probes are removed: the final counts (and the keys in the key log file), also when the run fails. */
  onStopped(stats: KeyCaptureStats, keysInFile: number | undefined): void;
}

export async function runKeylog(opts: RunKeylogOptions, io: RunKeylogIo): Promise<void> {
  // The run ends on the signal, the duration, a closed stdout or a write failure; the first failure is reported.
  let failure: unknown;
  let done!: () => void;
  const ended = new Promise<void>((resolve) => (done = resolve));
  const finish = (err?: unknown): void => {
    failure ??= err;
    done();
  };
  opts.signal.addEventListener('abort', () => finish(), { once: true });
  if (opts.signal.aborted) finish();
  const keyFile = opts.keyLogFile === undefined ? undefined : new KeyLogWriter(SecretOutput.open(opts.keyLogFile, 'the key log', 'append').fd, finish);
  let timer: LongTimeout | undefined;
  const onOutputError = (err: NodeJS.ErrnoException): void => finish(err.code === 'EPIPE' ? undefined : err);
  const sweepAbort = new AbortController();
  let swept: Promise<void> | undefined;
  try {
    const session = await startKeyCapture(opts.targets, {
      backend: opts.backend,
      follow: opts.follow,
      onNotice: io.onNotice,
      tracePipe: opts.tracePipe,
      signal: opts.signal,
    });
    if (session.targets.length === 0) io.onNotice('no target process is running yet: waiting for one');
    if (opts.durationMs !== undefined) timer = setLongTimeout(finish, opts.durationMs);
    io.stdout.on('error', onOutputError);
    session.on('key', (e) => writeKey(e, keyFile, opts.json, io.stdout));
    if (opts.midstream) swept = sweepExisting(session.targets.map((p) => p.pid), sweepAbort.signal, keyFile, opts.json, io);
    await ended;
    sweepAbort.abort();
    await swept;
    const stats = await session.stop();
    // What is in the file, not what the probe saw: after a failed write (a full disk) they differ.
    keyFile?.flush();
    io.onStopped(stats, keyFile?.written);
    if (failure) throw failure;
  } finally {
    io.stdout.off('error', onOutputError);
    timer?.clear();
    keyFile?.close();
  }
}

/** The mid-stream lines of the connections open at the start go where the NSS lines go. */
async function sweepExisting(pids: number[], signal: AbortSignal, keyFile: KeyLogWriter | undefined, json: boolean, io: RunKeylogIo): Promise<void> {
  for (const line of await sweepMidstreamLines(pids, signal, io.onNotice)) {
    keyFile?.addLine(line);
    if (keyFile === undefined && !json) io.stdout.write(`${line}\n`);
  }
}

function writeKey(e: KeyEvent, keyFile: KeyLogWriter | undefined, json: boolean, stdout: NodeJS.WritableStream): void {
  keyFile?.add(e);
  if (json) {
    const record = { time: e.time.toISOString(), pid: e.pid, comm: e.comm, label: e.label, clientRandom: bytesToHex(e.clientRandom) };
    stdout.write(`${JSON.stringify(record)}\n`);
  } else if (keyFile === undefined) {
    stdout.write(`${formatKeyLogLine(e)}\n`);
  }
}
