import { cliArgv } from './paths.js';
import { runProcess, type ExitedProcess } from './traffic.js';

/**
 * Node's own account of a process's peak resident set (getrusage ru_maxrss, KiB), printed by the child as it
 * exits: the memory the kernel gave the CLI at its worst, whatever its heap statistics say.
 */
const REPORT_PEAK_RSS = 'data:text/javascript,process.on("exit",()=>process.stderr.write("\\ngokeylog-test-peak-rss-kib="+process.resourceUsage().maxRSS+"\\n"))';

export interface MeasuredRun extends ExitedProcess {
  peakRssMiB: number;
}

/** Runs `gokeylog ARGS…` to completion and measures its peak RSS. */
export async function runCliMeasured(args: string[], timeoutMs = 600_000): Promise<MeasuredRun> {
  const run = await runProcess(process.execPath, ['--import', REPORT_PEAK_RSS, ...cliArgv(), ...args], { timeoutMs });
  const m = /\ngokeylog-test-peak-rss-kib=(\d+)\n/.exec(run.stderr);
  if (!m) throw new Error(`the CLI did not report its peak RSS (exit ${run.code}): ${run.stderr.slice(-500)}`);
  return { ...run, stderr: run.stderr.replace(m[0], ''), peakRssMiB: Number(m[1]) / 1024 };
}
