import os from 'node:os';

/**
 * The CLI owns the process's signals; libraries take an AbortSignal. A long-running command (keylog, capture,
 * conns, demo) stops when the signal from here aborts: at the first SIGINT, SIGTERM or SIGHUP, or when the
 * process exits anyway (an uncaught error), so that probes are removed on every way out.
 *
 * The handlers stay until the command settles, so that no signal meets Node's default action (death on the
 * spot) while the command cleans up: Node restores that default as soon as the last listener goes. A second
 * signal then — a Ctrl-C to the process group just as the parent (the demo) stopped its capture with SIGINT —
 * killed the capture in the middle of removing its probe and trace instance. One repeat is ignored, so the
 * command finishes (tcpdump's drain, the summary); the next ends the process at once with 128+N, through its
 * exit hooks. Outside a command (start-up, inspect) a signal has its default action.
 */
const STOP_SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

/** Signals after the first that a stopping command is given to finish before the process ends anyway. */
const REPEATS_BEFORE_EXIT = 2;

/**
 * Runs a command with the stop signal, installed before the command makes anything (a Ctrl-C at any moment
 * of its start must leave nothing behind); the signal is aborted with the name of the signal that arrived,
 * or 'exit'. The handlers are handed back when the command settles.
 */
export async function withStopSignal<T>(run: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const stop = stopOnSignals();
  try {
    return await run(stop.signal);
  } finally {
    stop.dispose();
  }
}

function stopOnSignals(): { signal: AbortSignal; dispose(): void } {
  const controller = new AbortController();
  let repeats = 0;
  const dispose = (): void => {
    for (const s of STOP_SIGNALS) process.off(s, onSignal);
    process.off('exit', onExit);
  };
  const onSignal = (signal: NodeJS.Signals): void => {
    if (!controller.signal.aborted) controller.abort(signal);
    else if (++repeats >= REPEATS_BEFORE_EXIT) process.exit(128 + (os.constants.signals[signal] ?? 0));
  };
  const onExit = (): void => controller.abort('exit');
  for (const s of STOP_SIGNALS) process.on(s, onSignal);
  process.on('exit', onExit);
  return { signal: controller.signal, dispose };
}
