/**
 * `gokeylog keylog` as a feature: probe the targets' writeKeyLog and write every key as it comes, as NSS key
 * log lines (to a 0600 file, or standard output) or as JSON records without the secret, until the stop
 * signal, the duration, a closed standard output or a failed write; the probes are removed on every way out.
 */
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
  /** The CLI's stop signal (SIGINT/SIGTERM/SIGHUP); the probes are removed at once when it aborts. */
  signal: AbortSignal;
}

export interface RunKeylogIo {
  stdout: NodeJS.WritableStream;
  onNotice(message: string): void;
  /** The probes are removed: the final counts, also when the run ends with a failure. */
  onStopped(stats: KeyCaptureStats): void;
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
    await ended;
    io.onStopped(await session.stop());
    if (failure) throw failure;
  } finally {
    io.stdout.off('error', onOutputError);
    timer?.clear();
    keyFile?.close();
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
