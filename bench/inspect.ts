/**
 * bench/inspect: `gokeylog inspect --json` on the largest test binary against `node -e 0` (the floor of any
 * Node CLI), measured in the same run, alternating, median of several runs. Goal: at most 3× the floor.
 * Also the peak RSS of inspect next to the file size (goal: well under it: only needed ranges are read),
 * and, for context, `gokeylog --version` (the CLI's start-up alone) and `go version` (Go's own build-info
 * reader) on the same binary.
 *
 *   node --import tsx bench/inspect.ts [--runs N] [--cli path/to/dist/src/cli/index.js]
 */
import { spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { loadFixtures, loadRealBinaries, newestGo } from '../test/support/fixtures.js';
import { repoRoot } from '../test/support/paths.js';

const args = process.argv.slice(2);
const option = (name: string): string | undefined => (args.includes(name) ? args[args.indexOf(name) + 1] : undefined);
const runs = Number(option('--runs') ?? 9);
const cli = option('--cli') ?? path.join(repoRoot(), 'bin', 'gokeylog');

const candidates = [...loadRealBinaries().filter((b) => b.hasTls).map((b) => b.path), ...loadFixtures().filter((f) => f.program !== 'notls').map((f) => f.path)];
if (candidates.length === 0) throw new Error('no test binaries: run npm run setup first');
const target = candidates.reduce((a, b) => (statSync(b).size > statSync(a).size ? b : a));
if (!existsSync(path.join(repoRoot(), 'dist', 'src', 'cli', 'index.js')) && option('--cli') === undefined) {
  throw new Error('dist/ is not built: run npm run build (or pass --cli)');
}

/** Wall time of one run in ms; throws if the command fails. */
function time(command: string, commandArgs: string[]): number {
  const start = process.hrtime.bigint();
  const result = spawnSync(command, commandArgs, { stdio: ['ignore', 'ignore', 'pipe'] });
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  if (result.status !== 0) throw new Error(`${command} ${commandArgs.join(' ')}: exit ${result.status}: ${result.stderr}`);
  return ms;
}

const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

const inspectArgs = [cli, 'inspect', '--json', target];
const go = newestGo();
const samples = { floor: [] as number[], startup: [] as number[], inspect: [] as number[], go: [] as number[] };
time(process.execPath, inspectArgs); // warm the page cache: we measure parsing, not the disk
for (let i = 0; i < runs; i++) {
  samples.floor.push(time(process.execPath, ['-e', '0']));
  samples.startup.push(time(process.execPath, [cli, '--version']));
  samples.inspect.push(time(process.execPath, inspectArgs));
  if (go) samples.go.push(time(go, ['version', target]));
}

// GNU time's %M: maximum resident set size in KiB.
const rss = spawnSync('/usr/bin/time', ['-f', '%M', process.execPath, ...inspectArgs], { stdio: ['ignore', 'ignore', 'pipe'] });
const peakKib = Number(rss.stderr.toString().trim().split('\n').at(-1));
const floorRss = spawnSync('/usr/bin/time', ['-f', '%M', process.execPath, '-e', '0'], { stdio: ['ignore', 'ignore', 'pipe'] });
const floorKib = Number(floorRss.stderr.toString().trim().split('\n').at(-1));

const floor = median(samples.floor);
const inspect = median(samples.inspect);
const sizeMb = statSync(target).size / 2 ** 20;
console.log(`target: ${target} (${sizeMb.toFixed(1)} MB), ${runs} runs each, medians`);
console.log(`node -e 0 (floor):        ${floor.toFixed(1)} ms`);
console.log(`gokeylog --version:       ${median(samples.startup).toFixed(1)} ms   (the CLI's own start: loading every command's modules)`);
console.log(`gokeylog inspect --json:  ${inspect.toFixed(1)} ms   ratio ${(inspect / floor).toFixed(2)}× the floor (goal ≤ 3×)`);
if (go) console.log(`go version (context):     ${median(samples.go).toFixed(1)} ms`);
console.log(`peak RSS: inspect ${(peakKib / 1024).toFixed(1)} MB, node -e 0 ${(floorKib / 1024).toFixed(1)} MB, file ${sizeMb.toFixed(1)} MB`);
