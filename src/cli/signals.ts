/**
 * The CLI owns the process's signals; libraries take an AbortSignal. A long-running command (keylog, capture)
 * stops when the signal from here aborts: at the first SIGINT, SIGTERM or SIGHUP (after which the default
 * handling returns, so a second Ctrl-C kills), or when the process exits anyway (an uncaught error), so that
 * probes are removed on every way out.
 */
const STOP_SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

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
  const dispose = (): void => {
    for (const s of STOP_SIGNALS) process.off(s, onSignal);
    process.off('exit', onExit);
  };
  const onSignal = (signal: NodeJS.Signals): void => {
    for (const s of STOP_SIGNALS) process.off(s, onSignal);
    controller.abort(signal);
  };
  const onExit = (): void => controller.abort('exit');
  for (const s of STOP_SIGNALS) process.on(s, onSignal);
  process.on('exit', onExit);
  return { signal: controller.signal, dispose };
}
