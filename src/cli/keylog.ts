import { Option, type Command } from 'commander';
import { exitCodesHelp } from '../util/errors.js';
import { runKeylog } from '../keylogger/index.js';
import type { KeyCaptureStats, ProbeBackendName, TracePipeFormat } from '../probe/index.js';
import { count } from '../util/count.js';
import { addTargetOptions, parsePositive, PROBE_ERRORS, resolveTargetSpec, type TargetOptions } from './options.js';
import { notice } from './output.js';
import { withStopSignal } from './signals.js';

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
line per direction (their secret and record sequence number at the sweep, at most 30 s after the start).
${exitCodesHelp(PROBE_ERRORS)}`)
    .action(async (opts: KeylogOptions) => withStopSignal((signal) => keylog(opts, signal)));
}

async function keylog(opts: KeylogOptions, signal: AbortSignal): Promise<void> {
  await runKeylog(
    {
      targets: (await resolveTargetSpec(opts, notice)).spec,
      keyLogFile: opts.output,
      json: opts.json ?? false,
      backend: opts.backend,
      follow: opts.follow ?? false,
      tracePipe: opts.tracefsReader,
      durationMs: opts.duration === undefined ? undefined : opts.duration * 1000,
      midstream: opts.midstream ?? false,
      signal,
    },
    { stdout: process.stdout, onNotice: notice, onStopped: (stats, inFile) => notice(summary(stats, inFile)) },
  );
}

function summary(s: KeyCaptureStats, inFile: number | undefined): string {
  const written = inFile ?? s.keys;
  const unwritten = s.keys > written ? ` (${s.keys - written} more not written)` : '';
  return `${count(s.processes, 'process', 'processes')} in ${count(s.binaries, 'binary', 'binaries')} hooked (${s.backend}); ` +
    `${count(written, 'key', 'keys')} written${unwritten}, ${count(s.duplicates, 'duplicate', 'duplicates')} dropped, ${s.rejects} rejected, ${s.lost} lost` +
    (s.ignored > 0 ? `, ${s.ignored} from unselected processes ignored.` : '.');
}

