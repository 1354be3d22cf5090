import { Option, type Command } from 'commander';
import { bytesToHex, formatKeyLogLine } from '../keylog/index.js';
import { KeyLogWriter, startKeyCapture, type KeyCaptureStats, type KeyEvent, type ProbeBackendName, type TracePipeFormat } from '../probe/index.js';
import { ExitCode, GokeylogError } from '../util/errors.js';

interface KeylogOptions {
  pid: number[];
  exe: string[];
  process: string[];
  follow?: boolean;
  output?: string;
  backend: ProbeBackendName;
  duration?: number;
  json?: boolean;
  tracefsReader: TracePipeFormat;
}

export function registerKeylog(program: Command): void {
  program
    .command('keylog')
    .description('Write an NSS key log of the TLS secrets of running Go programs (uprobe on crypto/tls writeKeyLog).')
    .option('--pid <pid>', 'a process to hook (repeatable)', collectPid, [])
    .option('--exe <path>', 'every process running this executable, now and later (repeatable)', collect, [])
    .option('--process <name>', 'every process with this command name or argv[0], now and later (repeatable)', collect, [])
    .option('--follow', 'keep following the targets: re-hook a restarted target, even onto an upgraded binary')
    .option('-o, --output <file>', 'append key log lines to FILE (created 0600) instead of stdout')
    .addOption(new Option('--backend <backend>', 'how to probe').choices(['tracefs', 'bpftrace']).default('tracefs'))
    .addOption(new Option('--tracefs-reader <reader>', 'read binary pages (trace_pipe_raw) or kernel-formatted text (trace_pipe)').choices(['raw', 'text']).default('raw'))
    .option('--duration <seconds>', 'stop after SECONDS', parseDuration)
    .option('--json', 'print one JSON object per key on stdout (time, pid, comm, label, clientRandom; never the secret)')
    .action(async (opts: KeylogOptions) => runKeylog(opts));
}

async function runKeylog(opts: KeylogOptions): Promise<void> {
  // The run ends on a signal, --duration, a closed stdout or a write failure; the first failure is reported.
  let failure: unknown;
  let done!: () => void;
  const ended = new Promise<void>((resolve) => (done = resolve));
  const finish = (err?: unknown): void => {
    failure ??= err;
    done();
  };
  const keyFile = opts.output === undefined ? undefined : new KeyLogWriter(opts.output, finish);
  const notice = (message: string): void => void process.stderr.write(`gokeylog: ${message}\n`);
  let timer: NodeJS.Timeout | undefined;
  try {
    const session = await startKeyCapture(
      { pids: opts.pid, exes: opts.exe, processes: opts.process },
      { backend: opts.backend, follow: opts.follow ?? false, onNotice: notice, tracePipe: opts.tracefsReader },
    );
    if (session.targets.length === 0) notice('no target process is running yet: waiting for one');
    if (opts.duration !== undefined) timer = setTimeout(finish, opts.duration * 1000);
    session.on('signal', () => finish());
    process.stdout.on('error', (err) => finish((err as NodeJS.ErrnoException).code === 'EPIPE' ? undefined : err));
    session.on('key', (e) => writeKey(e, keyFile, opts.json ?? false));
    await ended;
    const stats = await session.stop();
    process.stderr.write(`${summary(stats)}\n`);
    if (failure) throw failure;
  } finally {
    clearTimeout(timer);
    keyFile?.close();
  }
}

function writeKey(e: KeyEvent, keyFile: KeyLogWriter | undefined, json: boolean): void {
  keyFile?.add(e);
  if (json) {
    const record = { time: e.time.toISOString(), pid: e.pid, comm: e.comm, label: e.label, clientRandom: bytesToHex(e.clientRandom) };
    process.stdout.write(`${JSON.stringify(record)}\n`);
  } else if (keyFile === undefined) {
    process.stdout.write(`${formatKeyLogLine(e)}\n`);
  }
}

function summary(s: KeyCaptureStats): string {
  const count = (n: number, one: string, many: string): string => `${n} ${n === 1 ? one : many}`;
  return `gokeylog: ${count(s.processes, 'process', 'processes')} in ${count(s.binaries, 'binary', 'binaries')} hooked (${s.backend}); ` +
    `${count(s.keys, 'key', 'keys')} written, ${count(s.duplicates, 'duplicate', 'duplicates')} dropped, ${s.rejects} rejected, ${s.lost} lost` +
    (s.ignored > 0 ? `, ${s.ignored} from unselected processes ignored.` : '.');
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

function collectPid(value: string, previous: number[]): number[] {
  if (!/^\d+$/.test(value) || Number(value) <= 0) throw new GokeylogError(`--pid ${value} is not a process id.`, ExitCode.usage);
  return [...previous, Number(value)];
}

function parseDuration(value: string): number {
  const seconds = Number(value);
  if (!Number.isFinite(seconds) || seconds <= 0) throw new GokeylogError(`--duration ${value} is not a positive number of seconds.`, ExitCode.usage);
  return seconds;
}
