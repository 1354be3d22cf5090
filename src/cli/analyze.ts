import { readFileSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import { Option, type Command } from 'commander';
import { runAnalyze, type AnalyzeFormat, type AnalyzeStatus } from '../analyze/index.js';
import { clientList, type ReportFilter } from '../report/filters.js';
import { errnoReason, ExitCode, exitCodesHelp, fileErrorCode, GokeylogError } from '../util/errors.js';
import { CAPTURE_FILE_ERRORS, collect, parseDays } from './options.js';
import { bytesProgress, notice, StatusLine, warn } from './output.js';

interface AnalyzeCliOptions {
  read: string[];
  keylog: string[];
  conns: string[];
  label: string[];
  output?: AnalyzeFormat;
  json?: boolean;
  ndjson?: boolean;
  html?: string;
  requests?: boolean;
  connections?: boolean;
  headers: boolean;
  expiringWithin: number;
  expiryFrom: 'capture' | 'now';
  now?: number;
  failOnExpiry?: boolean;
  strict?: boolean;
  bodies?: boolean;
  user: string[];
  group: string[];
  fingerprint: string[];
  cert: string[];
  serial: string[];
  tokenSubject: string[];
  expiringOnly?: boolean;
  verb: string[];
  resource: string[];
  namespace: string[];
  client: string[];
}

const EXAMPLES = `
Examples:
  # which credentials expire soon, and who uses them from where?
  gokeylog analyze apiserver.pcapng
  gokeylog analyze -r capture.pcap --keylog server.keylog --expiring-within 60
  # who uses this certificate / this service account / this address?
  gokeylog analyze apiserver.pcapng --cert /etc/kubernetes/pki/apiserver-kubelet-client.crt
  gokeylog analyze apiserver.pcapng --token-subject system:serviceaccount:kube-system:coredns --requests
  gokeylog analyze apiserver.pcapng --client 10.0.0.0/24 --verb delete --requests
  # a cron job: exit 5 when a credential seen expires within 14 days
  gokeylog analyze apiserver.pcapng --expiring-within 14 --fail-on-expiry -o tsv > expiring.tsv
  # machine-readable: the whole report, one JSON object per request, or a table for awk
  gokeylog analyze capture.pcap --keylog k.log -o json > report.json
  gokeylog analyze capture.pcap --keylog k.log -o ndjson | jq 'select(.status >= 400)'
  gokeylog analyze capture.pcapng -o tsv --no-headers | cut -f1,5
  # live: Ctrl-C stops both; analyze finishes its report
  gokeylog capture --process kube-apiserver -w - | gokeylog analyze -
  # a self-contained HTML report next to the text output
  gokeylog analyze capture.pcapng --html report.html
  # connections opened before the capture: their keys and identities from the live process
  gokeylog conns --pid "$(pgrep -o kube-apiserver)" --json --keylog now.keys > now.json
  gokeylog analyze apiserver.pcap --keylog now.keys --conns now.json

Keys come from --keylog files (NSS key log format) and from the Decryption Secrets Blocks of pcapng
captures (gokeylog capture / editcap --inject-secrets). Expiry is measured from the start of the first
capture unless --now says otherwise. Filters narrow identities, connections and requests alike; the values
of one filter are alternatives, several filters must all match. Tokens, passwords and cookies are never
printed: tokens are named by a fingerprint (the first 16 hex digits of their SHA-256).
A capture cut short is a warning, or exit 3 with --strict.
${exitCodesHelp(CAPTURE_FILE_ERRORS, {
  [ExitCode.expiring]: '--fail-on-expiry and a credential expires within the window',
  [ExitCode.interrupted]: 'interrupted before the end',
})}`;

export function registerAnalyze(program: Command): void {
  program
    .command('analyze')
    .description('Decrypt TLS in captures and report who used which credential (client certificates, tokens) from where, what they called, and what expires soon.')
    .argument('[capture...]', 'pcap or pcapng files, read in order as one capture ("-" for standard input)')
    .option('-r, --read <file>', 'a capture file, as tshark and tcpdump take it (repeatable)', collect, [])
    .option('--keylog <file>', 'an NSS key log file, mid-stream lines included (repeatable)', collect, [])
    .option('--conns <file>', 'gokeylog conns --json output: identities of connections opened before the capture (repeatable)', collect, [])
    .option('--label <node>', 'the node the capture in the same position was taken on (repeatable; default: the node capture recorded, else the file name)', collect, [])
    .addOption(new Option('-o, --output <format>', 'text (default), wide (every column, connections and requests), json, ndjson, tsv or csv').choices(['text', 'wide', 'json', 'ndjson', 'tsv', 'csv']))
    .addOption(new Option('--json', 'the same as -o json').conflicts(['ndjson', 'output']))
    .addOption(new Option('--ndjson', 'the same as -o ndjson: one JSON object per request as it completes, then connections, identities and a summary').conflicts('output'))
    .option('--requests', 'also list the requests (with -o tsv/csv: list them instead of the identities)')
    .option('--connections', 'also list the connections (with -o tsv/csv: list them instead of the identities)')
    .option('--no-headers', 'no header line in tables (text, tsv, csv)')
    .option('--html <file>', 'also write a self-contained HTML report to FILE')
    .option('--expiring-within <days>', 'credentials expiring within DAYS need attention', parseDays, 30)
    .option('--now <time>', 'measure expiry from this time (ISO 8601, e.g. 2026-12-01T12:00:00Z) instead of the start of the first capture', parseTime)
    .addOption(new Option('--expiry-from <when>', 'measure expiry from the start of the first capture or from the clock').choices(['capture', 'now']).default('capture'))
    .option('--fail-on-expiry', 'exit 5 when a credential seen is expired or expires within the window (for cron jobs)')
    .option('--strict', 'a capture cut short is an error (exit 3), not a warning')
    .option('--bodies', 'include response bodies (gzip decoded) in JSON output')
    .option('--user <name>', 'only this user (repeatable)', collect, [])
    .option('--group <name>', 'only users in this group (repeatable)', collect, [])
    .option('--fingerprint <hex>', 'only the credential whose fingerprint starts with HEX (certificate SHA-256 or token fingerprint; repeatable)', collect, [])
    .option('--cert <file.pem>', 'only this client certificate (repeatable)', collect, [])
    .option('--serial <hex>', 'only the certificate with this serial number (repeatable)', collect, [])
    .option('--token-subject <sub>', 'only tokens with this subject, e.g. system:serviceaccount:NS:NAME (repeatable)', collect, [])
    .option('--expiring-only', 'only credentials that are expired or expire within the window')
    .option('--verb <verb>', 'only requests with this Kubernetes verb: get, list, watch, create, … (repeatable)', collect, [])
    .option('--resource <resource>', 'only requests for this resource (pods, nodes/status, …; repeatable)', collect, [])
    .option('--namespace <ns>', 'only requests in this namespace (repeatable)', collect, [])
    .option('--client <ip[/bits]>', 'only connections from this address or CIDR (repeatable)', collect, [])
    .addHelpText('after', EXAMPLES)
    .action(async (captures: string[], opts: AnalyzeCliOptions) => analyze([...opts.read, ...captures], opts));
}

/** --now as seconds since the epoch (the unit analyze and the report take). */
function parseTime(value: string): number {
  const ms = value === 'now' ? Date.now() : Date.parse(value);
  if (!Number.isFinite(ms) || !/^now$|^\d{4}-\d\d-\d\d/.test(value)) {
    throw new GokeylogError(`--now needs a time like 2026-12-01T12:00:00Z, not "${value}".`, 'GOKEYLOG_ERR_USAGE');
  }
  return ms / 1000;
}

/** --cert files as the SHA-256 fingerprints the filter matches. */
function certificateFingerprints(files: string[]): string[] {
  return files.map((file) => {
    let pem: Buffer;
    try {
      pem = readFileSync(file);
    } catch (err) {
      throw new GokeylogError(`cannot read --cert ${file}: ${errnoReason(err)}.`, fileErrorCode(err));
    }
    try {
      return new X509Certificate(pem).fingerprint256;
    } catch {
      throw new GokeylogError(`--cert ${file} is not a PEM or DER certificate.`, 'GOKEYLOG_ERR_USAGE');
    }
  });
}

function reportFilter(opts: AnalyzeCliOptions): ReportFilter {
  try {
    clientList(opts.client);
  } catch (err) {
    throw new GokeylogError((err as Error).message, 'GOKEYLOG_ERR_USAGE');
  }
  return {
    users: opts.user,
    groups: opts.group,
    fingerprints: [...opts.fingerprint, ...certificateFingerprints(opts.cert)],
    serials: opts.serial,
    tokenSubjects: opts.tokenSubject,
    expiringOnly: opts.expiringOnly ?? false,
    verbs: opts.verb.map((v) => v.toLowerCase()),
    resources: opts.resource,
    namespaces: opts.namespace,
    clients: opts.client,
  };
}

function statusText(s: AnalyzeStatus): string {
  const read = bytesProgress(s.bytesRead, s.totalBytes);
  return `analyzing: ${read} · ${s.packets} packets · ${s.connections} connections · ${s.requests} requests · ${s.identities} identities${s.gaps ? ` · ${s.gaps} gaps (lost segments)` : ''}`;
}

async function analyze(captures: string[], opts: AnalyzeCliOptions): Promise<void> {
  if (captures.length === 0) throw new GokeylogError('say which captures to read: files, -r FILE, or - for standard input.', 'GOKEYLOG_ERR_USAGE');
  const format: AnalyzeFormat = opts.output ?? (opts.ndjson ? 'ndjson' : opts.json ? 'json' : 'text');
  const filter = reportFilter(opts);
  const status = new StatusLine();

  // Ctrl-C reaches every process of a pipeline (`capture -w - | analyze -`): the capture ends its output, and
  // analyze reads on to that end and reports. On files, or at a second Ctrl-C, it stops reading at once and
  // reports what it read; a third ends it.
  const live = captures.includes('-');
  let interrupts = 0;
  const onSigint = (): void => {
    interrupts += 1;
    if (interrupts === 1 && live) notice('finishing: reading the capture to its end, then the report (Ctrl-C again to stop reading now).');
    else if (interrupts === 2 && live) {
      notice('stopping: the report covers what was read.');
      process.stdin.destroy();
    } else if (interrupts >= 3) process.exit(ExitCode.interrupted);
  };
  process.on('SIGINT', onSigint);
  try {
    const result = await runAnalyze(
      {
        captures,
        labels: opts.label,
        keyLogFiles: opts.keylog,
        connsFiles: opts.conns,
        format,
        html: opts.html,
        expiringWithinDays: opts.expiringWithin,
        expiryFrom: opts.now !== undefined ? { atSeconds: opts.now } : opts.expiryFrom,
        bodies: opts.bodies ?? false,
        color: process.stdout.isTTY === true && !process.env.NO_COLOR,
        width: process.stdout.isTTY ? process.stdout.columns || 80 : undefined,
        headers: opts.headers,
        requests: opts.requests,
        connections: opts.connections,
        filter,
        strict: opts.strict,
      },
      {
        output: process.stdout,
        onWarning: warn,
        onProgress: (s) => status.update(() => statusText(s)),
        onCapturesRead: () => status.clear(),
        shouldStop: () => interrupts >= (live ? 2 : 1),
      },
    );
    if (result.stopped) process.exitCode = ExitCode.interrupted;
    else if (opts.failOnExpiry && result.expiring > 0) process.exitCode = ExitCode.expiring;
  } finally {
    status.clear();
    process.off('SIGINT', onSigint);
  }
}
