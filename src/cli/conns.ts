import { closeSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import Table from 'cli-table3';
import type { Command } from 'commander';
import { connRows, midstreamKeyLines, readLayoutFile, sweepConns, type ConnRow, type SweepResult } from '../conns/index.js';
import { resolveTargets } from '../probe/targets.js';
import { ExitCode, exitCodesHelp, GokeylogError } from '../util/errors.js';
import { SecretOutput } from '../util/secretFile.js';
import { count } from '../util/count.js';
import { addK8sOption, collect, collectPid, hasTargets, parseDays, parsePositive, resolveTargetSpec, type TargetOptions } from './options.js';
import { notice } from './output.js';
import { escapeControl } from '../util/terminal.js';
import { withStopSignal } from './signals.js';

interface ConnsOptions extends Omit<TargetOptions, 'follow'> {
  json?: boolean;
  sweep: number;
  expiringWithin: number;
  failOnExpiry?: boolean;
  keylog?: string;
  layout?: string;
}

const DEFAULT_SWEEP_SECONDS = 30;

export function registerConns(program: Command): void {
  const command = program.command('conns');
  addK8sOption(command)
    .description('List the live TLS connections of Go programs — also those opened before gokeylog started — with the peer\'s client certificate (CN, O, expiry, audit-log credential id).')
    .option('--pid <pid>', 'a process to sweep (repeatable)', collectPid, [])
    .option('--exe <path>', 'every process running this executable (repeatable)', collect, [])
    .option('--process <name>', 'every process with this command name or argv[0] (repeatable)', collect, [])
    .option('--json', 'print the connections as JSON')
    .option('--sweep <seconds>', 'probe for at most SECONDS (the sweep ends as soon as every established socket is matched)', parsePositive('--sweep'), DEFAULT_SWEEP_SECONDS)
    .option('--expiring-within <days>', 'mark (and list first) client certificates that expire within DAYS', parseDays, 30)
    .option('--fail-on-expiry', `exit with ${ExitCode.expiring} when a listed certificate expires within --expiring-within days`)
    .option('--keylog <file>', 'append the TLS 1.3 traffic secrets read, with their sequence numbers, as mid-stream key lines (created 0600)')
    .option('--layout <file>', 'use this struct layout table (scripts/layouts output) instead of the built-in ones')
    .addHelpText('after', `
Examples:
  gokeylog conns --process kube-apiserver                       # who is connected, with which certificate
  gokeylog conns --k8s apiserver                                # the API server of this node, not a look-alike
  gokeylog conns --pid 1234 --expiring-within 7 --fail-on-expiry # for cron: exit ${ExitCode.expiring} when one expires within a week
  gokeylog conns --pid 1234 --json | jq '.connections[] | select(.certificate) | .certificate.credentialId'
  gokeylog conns --pid 1234 --keylog midstream.keys             # then: gokeylog analyze capture.pcapng --keylog midstream.keys

Entry probes on crypto/tls.(*Conn).Read and Write are attached (only where they are located and validated)
until every established TCP socket of the targets is matched, at most --sweep seconds, then removed; the
rest is read from /proc/PID/mem, read-only, and every read is validated (a layout that does not fit is
refused and nothing is guessed). Sockets without TLS activity during the sweep are listed as idle.
${exitCodesHelp(
  ['GOKEYLOG_ERR_USAGE', 'GOKEYLOG_ERR_IO', 'GOKEYLOG_ERR_UNSAFE_OUTPUT', 'GOKEYLOG_ERR_NEEDS_ROOT', 'GOKEYLOG_ERR_TRACEFS', 'GOKEYLOG_ERR_UNSUPPORTED_BINARY',
    'GOKEYLOG_ERR_BAD_LAYOUT', 'GOKEYLOG_ERR_NOT_VALIDATED', 'GOKEYLOG_ERR_FILE_NOT_FOUND', 'GOKEYLOG_ERR_NO_SUCH_PROCESS'],
  { [ExitCode.expiring]: 'an identity expires soon (--fail-on-expiry)' },
)}`)
    .action(async (opts: ConnsOptions) => withStopSignal((signal) => runConns(opts, signal)));
}

async function runConns(opts: ConnsOptions, signal: AbortSignal): Promise<void> {
  if (!hasTargets(opts)) throw new GokeylogError('say which processes to sweep: --pid PID, --exe PATH, --process NAME or --k8s COMPONENT.', 'GOKEYLOG_ERR_USAGE');
  const { spec } = await resolveTargetSpec({ ...opts, follow: false }, notice);
  const layouts = opts.layout === undefined ? undefined : [readLayoutFile(opts.layout)];
  // Opened before probing: a key log that cannot be written must not cost the target a sweep.
  const keylogFd = opts.keylog === undefined ? undefined : SecretOutput.open(opts.keylog, 'the key log', 'append').fd;
  try {
    const pids = resolveTargets(spec).map((p) => p.pid);
    for (const pid of spec.pids) if (!pids.includes(pid)) throw new GokeylogError(`no process with pid ${pid} (or it has no executable).`, 'GOKEYLOG_ERR_NO_SUCH_PROCESS');
    if (pids.length === 0) throw new GokeylogError('no target process is running.', 'GOKEYLOG_ERR_NO_SUCH_PROCESS');
    const result = await sweepConns(pids, { maxSeconds: opts.sweep, signal, onNotice: notice, explicit: new Set(spec.pids), ...(layouts ? { layouts } : {}) });
    if (signal.aborted) notice('interrupted: the probes are removed; listing what the sweep saw so far');
    const rows = connRows(result, { expiringWithinDays: opts.expiringWithin, nowSeconds: Date.now() / 1000 });
    if (keylogFd !== undefined) writeKeys(keylogFd, result, notice);
    process.stdout.write(opts.json ? `${JSON.stringify(toJson(result, rows), null, 2)}\n` : text(result, rows, opts.expiringWithin));
    if (opts.failOnExpiry && rows.some((r) => r.expiring)) process.exitCode = ExitCode.expiring;
  } finally {
    if (keylogFd !== undefined) closeSync(keylogFd);
  }
}

function writeKeys(fd: number, result: SweepResult, notice: (m: string) => void): void {
  const lines = midstreamKeyLines(result, notice);
  if (lines.length > 0) writeSync(fd, lines.map((l) => `${l}\n`).join(''));
}

function toJson(result: SweepResult, rows: ConnRow[]): unknown {
  return {
    // Which node this is, so that the outputs of several nodes can be told apart and merged.
    node: hostname(),
    sweep: { elapsedMs: Math.round(result.elapsedMs), complete: result.complete, probeHits: result.hits },
    processes: result.processes.map((p) => ({
      pid: p.pid, comm: p.comm, goVersion: p.goVersion, goVersionSource: p.goVersionSource,
      layout: typeof p.layout === 'string' ? p.layout : null, layoutUnknown: typeof p.layout === 'object' ? p.layout.unknown : null,
      connections: p.conns.length, idle: p.idle.length, refused: p.refused, closedDuringSweep: p.closed, refusals: p.refusals,
    })),
    connections: rows,
  };
}

function text(result: SweepResult, rows: ConnRow[], days: number): string {
  const color = process.stdout.isTTY === true;
  const mark = (s: string): string => (color ? `\x1b[1;31m${s}\x1b[0m` : s);
  const table = new Table({ head: ['', 'peer', 'peer process', 'local', 'TLS', 'ALPN / SNI', 'peer CN', 'O', 'not after (days)', 'credential id'], style: { head: [], border: [] } });
  for (const r of rows) {
    const c = r.certificate;
    const peerProcess = r.peerProcess ? `${escapeControl(r.peerProcess.comm)} (${r.peerProcess.pid})${r.peerProcess.containerId ? ` ${r.peerProcess.containerId.slice(0, 12)}` : ''}` : '';
    // TLS 1.2 says per connection that its keys are not recovered (why: once, below the table).
    const tls = r.status === 'tls' ? `${r.tlsVersion} ${r.cipherSuite} (${r.side})${r.keys?.startsWith('TLS 1.2') ? ', keys not recovered' : ''}` : r.note ?? '';
    table.push([
      r.expiring ? mark('!') : '', r.peer, peerProcess, `${r.local} (pid ${r.pid})`, tls, [r.alpn, r.serverName].filter(Boolean).join(' / '),
      c?.commonName ?? '', c?.organizations.join(', ') ?? '', c ? `${c.notAfter.slice(0, 10)} (${c.daysLeft})` : '', c?.credentialId ?? '',
    ]);
  }
  const lines = [table.toString()];
  const expiring = rows.filter((r) => r.expiring).length;
  const tlsRows = rows.filter((r) => r.status === 'tls');
  const idle = rows.filter((r) => r.status === 'idle').length;
  lines.push(
    `${count(tlsRows.length, 'TLS connection', 'TLS connections')}, ${idle} idle; ${expiring > 0 ? mark(`${count(expiring, 'peer certificate expires', 'peer certificates expire')} within ${days} days`) : `no peer certificate expires within ${days} days`}.`,
    `sweep: ${(result.elapsedMs / 1000).toFixed(1)} s${result.complete ? ', every established socket matched' : ''}.`,
  );
  for (const p of result.processes) {
    if (typeof p.layout === 'object') lines.push(`pid ${p.pid} (${escapeControl(p.comm)}): ${p.layout.unknown}; nothing was read from its connections.`);
    if (p.closed > 0) lines.push(`pid ${p.pid} (${escapeControl(p.comm)}): ${count(p.closed, 'connection', 'connections')} closed during the sweep (not listed).`);
    if (p.refused > 0) lines.push(`pid ${p.pid} (${escapeControl(p.comm)}): ${count(p.refused, 'Conn', 'Conns')} refused by validation (${p.refusals[0]}).`);
  }
  const keys = [...new Set(tlsRows.map((r) => r.keys).filter((k): k is string => k !== null && k.startsWith('TLS 1.2')))];
  for (const k of keys) lines.push(k);
  return `${lines.join('\n')}\n`;
}
