/**
 * Live TLS keys from running Go programs: uprobes on crypto/tls.(*Config).writeKeyLog.
 *
 * Library contract (used by `gokeylog keylog` and `gokeylog capture`):
 *
 *   const session = await startKeyCapture({ pids: [1234], exes: [], processes: [] }, { backend: 'tracefs', onNotice });
 *   // options: follow, pollMs, tracePipe ('raw' default | 'text') for the tracefs backend
 *   session.on('key', (e: KeyEvent) => …);      // validated, de-duplicated: {label, clientRandom, secret, pid, comm, time, timeNs}
 *   session.on('reject', (why: string) => …);   // a hit that is not a key log line (counted in stats.rejects)
 *   // options.signal: an AbortSignal; when it aborts, every probe is removed at once (the CLI's SIGINT/SIGTERM)
 *   const stats = session.stop();               // idempotent; removes every probe and the trace instance
 *
 * - start() refuses (GokeylogError, a code for which isVerdictOnBinary holds) when planHook() cannot validate the
 *   entry of an explicitly selected binary; binaries found later by --exe/--process/follow are skipped with a notice.
 * - Targets: `pids` (explicit), `exes` (every process running that file, now and later, by dev+inode, so
 *   processes in other mount namespaces match), `processes` (comm or argv[0] basename, now and later).
 *   `follow` also re-hooks a restarted target, even onto a new binary at the same path. Probes are attached to
 *   `/proc/PID/exe`, which the kernel resolves to the inode: containers need no host path.
 * - One probe per binary serves all of its processes; hits of unselected processes are dropped
 *   (stats.ignored). tracefs records thread ids: they are mapped to process ids through /proc/TID/status.
 * - Cleanup runs on stop() and when `options.signal` aborts — the CLI aborts it on SIGINT/SIGTERM/SIGHUP and
 *   on process exit (including uncaught exceptions); the library installs no process-wide handlers. A
 *   `kill -9` leaves the probes behind, and the next run removes them (its notice says so).
 * - `KeyEvent.timeNs` is CLOCK_MONOTONIC (as process.hrtime.bigint()) of the probe hit: delay = now − timeNs.
 */
import { KeyCaptureSession, type KeyCaptureOptions } from './keyCaptureSession.js';
import type { TargetSpec } from './targets.js';

export { KeyCaptureSession } from './keyCaptureSession.js';
export type { KeyCaptureOptions, KeyCaptureStats, ProbeBackendName } from './keyCaptureSession.js';
export type { KeyEvent } from './events.js';
export type { TracePipeFormat } from './tracePipe.js';
export type { TargetSpec } from './targets.js';
export { bpftraceScript } from './bpftraceScript.js';
export { KeyLogWriter, appendLines } from './keyLogWriter.js';

export function startKeyCapture(targets: TargetSpec, options: KeyCaptureOptions = {}): Promise<KeyCaptureSession> {
  return KeyCaptureSession.start(targets, options);
}
