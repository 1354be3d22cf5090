/**
 * bench:merge — one report from many captures: the realistic capture of bench:analyze cut into 20 files (editcap
 * -c, as 20 rotated captures or 20 nodes' windows), analysed as 20 inputs, against the peer's way (mergecap
 * into one file, then one input) and against the single original, in the same run. Prints time and peak RSS:
 * memory must stay bounded by the live connections, not grow with the number of files.
 *
 *   npm run bench:merge [-- --files 20]      (run npm run bench:analyze once first: it builds the capture)
 */
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { cacheDir } from '../src/util/cache.js';
import { measure, ourCli } from './support.js';

const argv = process.argv.slice(2);
const files = Number(argv[argv.indexOf('--files') + 1] ?? 20) || 20;
const loadAverage = (): string => os.loadavg().map((l) => l.toFixed(1)).join(' ');

function main(): void {
  const dir = path.join(cacheDir(), 'bench');
  const pcap = path.join(dir, 'analyze-230mb.pcap');
  const keyLog = path.join(dir, 'analyze-230mb.keylog');
  try {
    statSync(pcap);
    statSync(keyLog);
  } catch {
    console.error(`no ${pcap}: run npm run bench:analyze once first (it builds the capture)`);
    process.exit(1);
  }
  const work = mkdtempSync(path.join(os.tmpdir(), 'gokeylog-bench-merge-'));
  try {
    const packets = Number(/(\d+)/.exec(spawnSync('capinfos', ['-c', '-M', pcap], { encoding: 'utf8' }).stdout.split('\n').find((l) => /Number of packets/.test(l)) ?? '')?.[1]);
    const per = Math.ceil(packets / files);
    const split = spawnSync('editcap', ['-c', String(per), pcap, path.join(work, 'part.pcap')], { encoding: 'utf8' });
    if (split.status !== 0) throw new Error(`editcap: ${split.stderr}`);
    const parts = readdirSync(work).filter((f) => f.startsWith('part')).sort().map((f) => path.join(work, f));
    console.log(`capture: ${pcap}, ${(statSync(pcap).size / 1048576).toFixed(0)} MiB, ${packets} packets, cut into ${parts.length} files of ${per} packets`);
    const cli = ourCli();
    const analyze = (inputs: string[]): ReturnType<typeof measure> => measure(cli.command, [...cli.args, 'analyze', ...inputs, '--keylog', keyLog, '-o', 'json']);
    const requests = (m: ReturnType<typeof measure>): number => (JSON.parse(m.stdout) as { requests: unknown[] }).requests.length;

    const load1 = loadAverage();
    const one = analyze([pcap]);
    console.log(`gokeylog, 1 file:           ${one.seconds.toFixed(2)} s, peak RSS ${one.peakRssMb.toFixed(0)} MB, ${requests(one)} requests (load ${load1})`);
    const load2 = loadAverage();
    const many = analyze(parts);
    console.log(`gokeylog, ${parts.length} files:          ${many.seconds.toFixed(2)} s, peak RSS ${many.peakRssMb.toFixed(0)} MB, ${requests(many)} requests (load ${load2})`);
    const load3 = loadAverage();
    const merged = path.join(work, 'merged.pcap');
    const mergecap = measure('mergecap', ['-F', 'pcap', '-w', merged, ...parts]);
    const after = analyze([merged]);
    console.log(`mergecap + gokeylog 1 file: ${(mergecap.seconds + after.seconds).toFixed(2)} s (mergecap ${mergecap.seconds.toFixed(2)} s, peak RSS ${mergecap.peakRssMb.toFixed(0)} MB) (load ${load3})`);
    console.log(`ratio: ${parts.length} files take ${(many.seconds / one.seconds).toFixed(2)}× the time of one and ${(many.peakRssMb / one.peakRssMb).toFixed(2)}× its peak RSS; ${(many.seconds / (mergecap.seconds + after.seconds)).toFixed(2)}× mergecap + analyze`);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

main();
