import { count } from '../util/count.js';
import { midstreamKeyLines } from './rows.js';
import { sweepConns } from './sweep.js';

/** How long a start-up sweep (keylog/capture --midstream) may probe (Read/Write) for the connections opened before. */
export const MIDSTREAM_SWEEP_SECONDS = 30;

/**
 * The connections of `pids` open now, swept once like `gokeylog conns` (its own Read/Write probes, removed when
 * done or when `signal` aborts): their `# GOKEYLOG_MIDSTREAM` key lines. A sweep that fails is said and gives
 * no lines: the keylog or capture it runs beside goes on.
 */
export async function sweepMidstreamLines(pids: number[], signal: AbortSignal, notice: (message: string) => void): Promise<string[]> {
  if (pids.length === 0) {
    notice('no target process was running at the start: no connections opened before to sweep');
    return [];
  }
  try {
    const result = await sweepConns(pids, { maxSeconds: MIDSTREAM_SWEEP_SECONDS, signal, onNotice: notice });
    const lines = midstreamKeyLines(result, notice);
    const connections = result.processes.reduce((n, p) => n + p.conns.length, 0);
    notice(`swept the connections opened before: ${count(connections, 'TLS connection', 'TLS connections')}, ${count(lines.length, 'mid-stream line', 'mid-stream lines')} written`);
    return lines;
  } catch (err) {
    notice(`the sweep of the connections opened before failed: ${err instanceof Error ? err.message : String(err)}`);
    return [];
  }
}
