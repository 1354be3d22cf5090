import { closeSync, createWriteStream } from 'node:fs';
import { Option, type Command } from 'commander';
import { MIDSTREAM_SWEEP_SECONDS } from '../conns/index.js';
import { describeFilter, runCapture, type CaptureSummary } from '../capture/index.js';
import type { ProbeBackendName } from '../probe/index.js';
import { exitCodesHelp, GokeylogError } from '../util/errors.js';
import { cutToWholeBlocks } from '../pcap/index.js';
import { SecretOutput, sameFile } from '../util/secretFile.js';
import { count } from '../util/count.js';
import { addTargetOptions, hasTargets, parsePositive, PROBE_ERRORS, resolveTargetSpec, type TargetOptions } from './options.js';
import { notice, StatusLine } from './output.js';
import { withStopSignal } from './signals.js';

interface CaptureCliOptions extends TargetOptions {
  write: string;
  interface: string;
  filter?: string;
  keylog?: string;
  duration?: number;
  hostNetns?: boolean;
  holdMs: number;
  maxHeldMb: number;
  backend: ProbeBackendName;
  json?: boolean;
  midstream?: boolean;
}

export function registerCapture(program: Command): void {
  const command = program
    .command('capture')
    .description('Capture the traffic of running Go programs with tcpdump (in their network namespace) and their TLS keys, into ONE pcapng that Wireshark decrypts with no options.');
  addTargetOptions(command)
    .requiredOption('-w, --write <file>', 'write the pcapng to FILE (a new file of mode 0600 that replaces FILE: it holds secrets), or - for stdout')
    .option('-i, --interface <iface>', 'interface to capture on, in each target\'s network namespace (one tcpdump per namespace)', 'any')
    .option('-f, --filter <expr>', 'pcap filter expression, e.g. "tcp port 6443" (default: only the targets\' own TCP traffic: their listening ports and connections)')
    .option('--keylog <file>', 'also append the plain NSS key log to FILE (created 0600; an existing FILE must be yours and 0600)')
    .option('--duration <seconds>', 'stop after SECONDS', parsePositive('--duration'))
    .option('--midstream', 'also sweep the connections already open when the capture starts (as keylog --midstream) and write their TLS 1.3 secrets as # GOKEYLOG_MIDSTREAM lines: analyze decrypts them from there on')
    .option('--host-netns', 'capture in the host network namespace instead of the targets\'')
    .option('--hold-ms <ms>', 'how long a packet may wait for its connection\'s keys', parsePositive('--hold-ms'), 2000)
    .option('--max-held-mb <mb>', 'memory for packets waiting for keys; past it they are written without waiting', parsePositive('--max-held-mb'), 64)
    .addOption(new Option('--backend <backend>', 'how to probe').choices(['tracefs', 'bpftrace']).default('tracefs'))
    .option('--json', 'print the summary as one JSON object (on stdout, or stderr with -w -)')
    .addHelpText('after', `
Examples:
  gokeylog capture --pid 1234 -w apiserver.pcapng --duration 60        # then: wireshark apiserver.pcapng
  gokeylog capture --process kube-apiserver -f 'tcp port 6443' -w apiserver.pcapng --keylog apiserver.keys
  gokeylog capture --process etcd -w - | wireshark -k -i -              # decrypted, live
  gokeylog capture --k8s apiserver -w apiserver.pcapng --duration 60     # process and ports from its command line
  gokeylog capture --exe /usr/local/bin/kubelet --follow -w kubelet.pcapng
  gokeylog capture --process kube-apiserver --midstream -w apiserver.pcapng   # also the clients connected before (analyze)

Each DSB (the keys) is written before the first packet that needs it; packets wait up to --hold-ms for
their keys. Connections opened before the capture started cannot be decrypted from their handshake and are
counted as such. With --midstream, those of the targets running at the start are swept once (Read/Write
probes for at most ${MIDSTREAM_SWEEP_SECONDS} s, until each is seen): their secrets go into a DSB and --keylog ahead of
their packets, which wait for the sweep; gokeylog analyze decrypts them from there on (Wireshark ignores those
lines). Not the default: the sweep probes every TLS Read and Write of the targets while it runs, and holds
their packets back until it ends.
${exitCodesHelp(PROBE_ERRORS)}`)
    .action(async (opts: CaptureCliOptions) => withStopSignal((signal) => runCaptureCommand(opts, signal)));
}

async function runCaptureCommand(opts: CaptureCliOptions, signal: AbortSignal): Promise<void> {
  if (!hasTargets(opts)) {
    throw new GokeylogError('say which programs to capture: --pid, --exe, --process or --k8s.', 'GOKEYLOG_ERR_USAGE');
  }
  const toStdout = opts.write === '-';
  if (toStdout && process.stdout.isTTY) {
    throw new GokeylogError('-w - writes binary pcapng: pipe it into a program (e.g. wireshark -k -i -) or redirect it to a file.', 'GOKEYLOG_ERR_USAGE');
  }
  if (opts.keylog !== undefined && !toStdout && sameFile(opts.keylog, opts.write)) {
    throw new GokeylogError(`--keylog ${opts.keylog} is the capture file -w ${opts.write}: give two files.`, 'GOKEYLOG_ERR_USAGE');
  }
  const keyLog = opts.keylog === undefined ? undefined : SecretOutput.open(opts.keylog, 'the key log', 'append');
  let out: SecretOutput | undefined;
  try {
    out = toStdout ? undefined : SecretOutput.open(opts.write, 'the capture', 'replace');
  } catch (err) {
    if (keyLog) closeSync(keyLog.fd);
    throw err;
  }
  const outFd = out?.fd;
  // The descriptor is ours to close (once, below), also after a write error: a stream that closed it itself made
  // the later close fail with EBADF.
  const output = outFd === undefined ? process.stdout : createWriteStream('', { fd: outFd, autoClose: false });
  const keyLogFd = keyLog?.fd;
  // A status line only when the capture goes to a file: with -w - the reader (analyze -, wireshark) shows its own.
  const status = new StatusLine();
  try {
    const targets = await resolveTargetSpec(opts, notice);
    const filter = opts.filter ?? targets.presetFilter;
    if (opts.filter === undefined && filter !== undefined) notice(`capture filter from --k8s: ${filter}`);
    const summary = await runCapture({
      targets: targets.spec,
      output,
      outputName: toStdout ? 'standard output' : opts.write,
      iface: opts.interface,
      filter,
      hostNetns: opts.hostNetns ?? false,
      holdMs: opts.holdMs,
      maxHeldBytes: opts.maxHeldMb * 1024 * 1024,
      durationMs: opts.duration === undefined ? undefined : opts.duration * 1000,
      keyLogFd,
      midstream: opts.midstream ?? false,
      backend: opts.backend,
      follow: opts.follow ?? false,
      signal,
      onNotice: notice,
      onStatus: toStdout ? undefined : (st) => status.update(() => `capturing: ${count(st.packets, 'packet', 'packets')}, ${count(st.keys, 'key', 'keys')}, ${st.droppedByKernel} dropped by the kernel`),
      onReady: (netns) => {
        // The capture takes the name of -w once it runs: a capture that could not start leaves an old file as it was.
        out?.commit();
        notice(`capturing on ${opts.interface} in ${describeNetns(netns)}: ${describeFilter(opts)}; stop with Ctrl-C`);
      },
    });
    out?.commit();
    status.clear();
    // A full disk: the file is cut back to its last whole block (tshark reads it all) and the summary says
    // what it really holds.
    const kept = summary.writeError !== undefined && out?.regular ? cutToWholeBlocks(out.fd) : undefined;
    if (opts.json) (toStdout ? process.stderr : process.stdout).write(`${JSON.stringify(kept ? { ...summary, kept } : summary)}\n`);
    else for (const line of describeSummary(summary)) notice(line);
    if (summary.writeError !== undefined) {
      const what = kept ? `; ${opts.write} keeps ${count(kept.packets, 'packet', 'packets')} and ${count(kept.keys, 'key', 'keys')} in ${count(kept.secretsBlocks, 'secrets block', 'secrets blocks')}, up to its last whole block (${kept.bytes} bytes)` : '';
      throw new GokeylogError(`${summary.writeError.replace(/\.$/, '')}${what}.`, 'GOKEYLOG_ERR_IO');
    }
  } finally {
    status.clear();
    out?.discard();
    if (keyLogFd !== undefined) closeSync(keyLogFd);
    if (outFd !== undefined) closeSync(outFd);
  }
}

function describeSummary(s: CaptureSummary): string[] {
  const o = s.ordering;
  const drops = s.tcpdump.droppedByKernel === null ? 'unknown' : String(s.tcpdump.droppedByKernel);
  return [
    `captured ${count(o.packets, 'packet', 'packets')} on ${s.iface} (${describeNetns(s.netns)}), ${drops} dropped by the kernel; stopped by ${s.stoppedBy}.`,
    `filter: ${s.filter}${s.packetsOfOtherProcesses ? `; ${count(s.packetsOfOtherProcesses, 'packet', 'packets')} of other processes left out` : ''}.`,
    `${count(o.keys, 'key', 'keys')} written in ${count(o.secretsBlocks, 'secrets block', 'secrets blocks')} from ${count(s.probe.processes, 'process', 'processes')}; ${s.probe.rejects} rejected, ${s.probe.lost} lost.`,
    `TLS connections: ${o.connectionsDecryptable} with keys, ${o.connectionsKeysMissing} whose keys never came (${count(o.packetsReleasedWithoutKeys, 'packet', 'packets')} written without them), ` +
      (o.midstreamLines > 0
        ? `${o.connectionsOpenedBefore} opened before the capture, ${count(o.midstreamLines, 'mid-stream secret line', 'mid-stream secret lines')} for those swept (gokeylog analyze decrypts them).`
        : `${o.connectionsOpenedBefore} opened before the capture (cannot be decrypted).`),
  ];
}

const describeNetns = (netns: string[]): string =>
  netns.length === 1 ? `the ${netns[0]} network namespace` : `${netns.length} network namespaces (${netns.join(', ')})`;
