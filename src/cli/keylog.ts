import { Option, type Command } from 'commander';
import { bytesToHex, formatKeyLogLine } from '../keylog/index.js';
import { KeyLogWriter, startKeyCapture, type KeyCaptureStats, type KeyEvent, type ProbeBackendName, type TracePipeFormat } from '../probe/index.js';
import { setLongTimeout, type LongTimeout } from '../util/longTimeout.js';
import { SecretOutput } from '../util/secretFile.js';
import { count } from './format.js';
import { addTargetOptions, exitCodesText, parsePositive, PROBE_ERRORS, resolveTargetSpec, type TargetOptions } from './options.js';
import { notice } from './output.js';
import { withStopSignal } from './signals.js';

interface KeylogOptions extends TargetOptions {
  output?: string;
  backend: ProbeBackendName;
  duration?: number;
  json?: boolean;
  tracefsReader: TracePipeFormat;
}

export function registerKeylog(program: Command): void {
  const command = program
    .command('keylog')
    .description('Write an NSS key log of the TLS secrets of running Go programs (uprobe on crypto/tls writeKeyLog).');
  addTargetOptions(command)
    .option('-o, --output <file>', 'append key log lines to FILE instead of stdout (created 0600; an existing FILE must be yours and 0600)')
    .addOption(new Option('--backend <backend>', 'how to probe').choices(['tracefs', 'bpftrace']).default('tracefs'))
    .addOption(new Option('--tracefs-reader <reader>', 'read binary pages (trace_pipe_raw) or kernel-formatted text (trace_pipe)').choices(['raw', 'text']).default('raw'))
    .option('--duration <seconds>', 'stop after SECONDS', parsePositive('--duration'))
    .option('--json', 'print one JSON object per key on stdout (time, pid, comm, label, clientRandom; never the secret)')
    .addHelpText('after', `
Examples:
  gokeylog keylog --pid 1234 -o apiserver.keys                  # then: wireshark -o tls.keylog_file:apiserver.keys
  gokeylog keylog --process kube-apiserver --follow -o apiserver.keys
  gokeylog keylog --k8s etcd -o etcd.keys                       # the etcd of this node, not a look-alike
  gokeylog keylog --exe /usr/local/bin/etcd --duration 60 > etcd.keys
  gokeylog keylog --process kubelet --json                      # who handshakes when; no secrets printed

Runs until Ctrl-C (or --duration), then removes its probes and prints a summary on stderr. Only
handshakes made while it runs are logged.
${exitCodesText(PROBE_ERRORS)}`)
    .action(async (opts: KeylogOptions) => withStopSignal((signal) => runKeylog(opts, signal)));
}

async function runKeylog(opts: KeylogOptions, signal: AbortSignal): Promise<void> {
  // The run ends on a signal, --duration, a closed stdout or a write failure; the first failure is reported.
  let failure: unknown;
  let done!: () => void;
  const ended = new Promise<void>((resolve) => (done = resolve));
  const finish = (err?: unknown): void => {
    failure ??= err;
    done();
  };
  const keyFile = opts.output === undefined ? undefined : new KeyLogWriter(SecretOutput.open(opts.output, 'the key log', 'append').fd, finish);
  let timer: LongTimeout | undefined;
  signal.addEventListener('abort', () => finish(), { once: true });
  try {
    const session = await startKeyCapture(
      (await resolveTargetSpec(opts, notice)).spec,
      { backend: opts.backend, follow: opts.follow ?? false, onNotice: notice, tracePipe: opts.tracefsReader, signal },
    );
    if (session.targets.length === 0) notice('no target process is running yet: waiting for one');
    if (opts.duration !== undefined) timer = setLongTimeout(finish, opts.duration * 1000);
    process.stdout.on('error', (err) => finish((err as NodeJS.ErrnoException).code === 'EPIPE' ? undefined : err));
    session.on('key', (e) => writeKey(e, keyFile, opts.json ?? false));
    await ended;
    const stats = await session.stop();
    notice(summary(stats));
    if (failure) throw failure;
  } finally {
    timer?.clear();
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
  return `${count(s.processes, 'process', 'processes')} in ${count(s.binaries, 'binary', 'binaries')} hooked (${s.backend}); ` +
    `${count(s.keys, 'key', 'keys')} written, ${count(s.duplicates, 'duplicate', 'duplicates')} dropped, ${s.rejects} rejected, ${s.lost} lost` +
    (s.ignored > 0 ? `, ${s.ignored} from unselected processes ignored.` : '.');
}

