import { Option, type Command } from 'commander';
import { bytesToHex, formatKeyLogLine } from '../keylog/index.js';
import { KeyLogWriter, startKeyCapture, type KeyCaptureStats, type KeyEvent, type ProbeBackendName, type TracePipeFormat } from '../probe/index.js';
import { setLongTimeout, type LongTimeout } from '../util/longTimeout.js';
import { SecretOutput } from '../util/secretFile.js';
import { midstreamKeyLines, sweepConns } from '../conns/index.js';
import { count } from '../util/count.js';
import { addTargetOptions, parsePositive, resolveTargetSpec, type TargetOptions } from './options.js';
import { escapeControl } from '../util/terminal.js';

/** How long the --midstream sweep may probe (Read/Write) for the connections opened before keylog. */
const MIDSTREAM_SWEEP_SECONDS = 30;

interface KeylogOptions extends TargetOptions {
  output?: string;
  backend: ProbeBackendName;
  duration?: number;
  json?: boolean;
  tracefsReader: TracePipeFormat;
  midstream?: boolean;
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
    .option('--midstream', 'also sweep the connections already open when keylog starts (as gokeylog conns does) and write their TLS 1.3 secrets as # GOKEYLOG_MIDSTREAM lines')
    .addHelpText('after', `
Examples:
  gokeylog keylog --pid 1234 -o apiserver.keys                  # then: wireshark -o tls.keylog_file:apiserver.keys
  gokeylog keylog --process kube-apiserver --follow -o apiserver.keys
  gokeylog keylog --k8s etcd -o etcd.keys                       # the etcd of this node, not a look-alike
  gokeylog keylog --exe /usr/local/bin/etcd --duration 60 > etcd.keys
  gokeylog keylog --process kubelet --json                      # who handshakes when; no secrets printed
  gokeylog keylog --pid 1234 --midstream -o apiserver.keys      # also the connections opened before (analyze decrypts them)

Runs until Ctrl-C (or --duration), then removes its probes and prints a summary on stderr. Only
handshakes made while it runs are logged; with --midstream, connections opened before get one mid-stream
line per direction (their secret and record sequence number at the sweep, at most 30 s after the start). Exit codes: 0 ok, 1 failure (tracefs, bpftrace), 2 usage,
3 a target is not a supported Go binary (not ELF, not Go, no crypto/tls), 4 writeKeyLog not found or
its entry not validated.`)
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
  const keyFile = opts.output === undefined ? undefined : new KeyLogWriter(SecretOutput.open(opts.output, 'the key log', 'append').fd, finish);
  const notice = (message: string): void => void process.stderr.write(`gokeylog: ${escapeControl(message)}\n`);
  let timer: LongTimeout | undefined;
  const sweepAbort = new AbortController();
  let swept: Promise<void> | undefined;
  try {
    const session = await startKeyCapture(
      (await resolveTargetSpec(opts, notice)).spec,
      { backend: opts.backend, follow: opts.follow ?? false, onNotice: notice, tracePipe: opts.tracefsReader },
    );
    if (session.targets.length === 0) notice('no target process is running yet: waiting for one');
    if (opts.duration !== undefined) timer = setLongTimeout(finish, opts.duration * 1000);
    session.on('signal', () => finish());
    process.stdout.on('error', (err) => finish((err as NodeJS.ErrnoException).code === 'EPIPE' ? undefined : err));
    session.on('key', (e) => writeKey(e, keyFile, opts.json ?? false));
    if (opts.midstream) swept = sweepExisting(session.targets.map((p) => p.pid), sweepAbort.signal, keyFile, opts.json ?? false, notice);
    await ended;
    sweepAbort.abort();
    await swept;
    const stats = await session.stop();
    // What is in the file, not what the probe saw: after a failed write (a full disk) they differ.
    keyFile?.flush();
    process.stderr.write(`${summary(stats, keyFile?.written)}\n`);
    if (failure) throw failure;
  } finally {
    timer?.clear();
    keyFile?.close();
  }
}

/**
 * The connections open at the start, swept once like `gokeylog conns` (its own Read/Write probes, removed when
 * done or when keylog stops): their mid-stream lines go where the NSS lines go. A sweep that fails is said,
 * and keylog goes on.
 */
async function sweepExisting(pids: number[], signal: AbortSignal, keyFile: KeyLogWriter | undefined, json: boolean, notice: (m: string) => void): Promise<void> {
  try {
    const result = await sweepConns(pids, { maxSeconds: MIDSTREAM_SWEEP_SECONDS, signal, onNotice: notice });
    const lines = midstreamKeyLines(result, notice);
    for (const line of lines) {
      keyFile?.addLine(line);
      if (keyFile === undefined && !json) process.stdout.write(`${line}\n`);
    }
    const connections = result.processes.reduce((n, p) => n + p.conns.length, 0);
    notice(`swept the connections opened before: ${count(connections, 'TLS connection', 'TLS connections')}, ${count(lines.length, 'mid-stream line', 'mid-stream lines')} written`);
  } catch (err) {
    notice(`the sweep of the connections opened before failed: ${err instanceof Error ? err.message : String(err)}`);
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

function summary(s: KeyCaptureStats, inFile: number | undefined): string {
  const written = inFile ?? s.keys;
  const unwritten = s.keys > written ? ` (${s.keys - written} more not written)` : '';
  return `gokeylog: ${count(s.processes, 'process', 'processes')} in ${count(s.binaries, 'binary', 'binaries')} hooked (${s.backend}); ` +
    `${count(written, 'key', 'keys')} written${unwritten}, ${count(s.duplicates, 'duplicate', 'duplicates')} dropped, ${s.rejects} rejected, ${s.lost} lost` +
    (s.ignored > 0 ? `, ${s.ignored} from unselected processes ignored.` : '.');
}

