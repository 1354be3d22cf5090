import { Option, type Command } from 'commander';
import cliProgress from 'cli-progress';
import { runAnalyze } from '../analyze/index.js';
import { ExitCode, GokeylogError } from '../util/errors.js';
import { collect } from './options.js';

interface AnalyzeCliOptions {
  keylog: string[];
  json?: boolean;
  ndjson?: boolean;
  html?: string;
  expiringWithin: number;
  expiryFrom: 'capture' | 'now';
  bodies?: boolean;
}

/** Inputs at least this large get a progress bar (on a terminal). */
const PROGRESS_MIN_BYTES = 32 << 20;

const EXAMPLES = `
Examples:
  # who called the API server, with which client certificate, and when does it expire?
  gokeylog analyze apiserver.pcapng
  gokeylog analyze capture.pcap --keylog server.keylog --expiring-within 60
  # machine-readable: the whole report, or one JSON object per request as it completes
  gokeylog analyze capture.pcap --keylog k.log --json > report.json
  gokeylog analyze capture.pcap --keylog k.log --ndjson | jq 'select(.status >= 400)'
  # a self-contained HTML report next to the table output
  gokeylog analyze capture.pcapng --html report.html

Keys come from --keylog files (NSS key log format) and from the Decryption Secrets Blocks of pcapng
captures (gokeylog capture / editcap --inject-secrets). Every TCP connection is listed; one that cannot
be decrypted says why. Exit codes: 0 ok, 2 usage, 3 unreadable or unsupported capture, 4 file not found.`;

export function registerAnalyze(program: Command): void {
  program
    .command('analyze')
    .description('Decrypt TLS in captures and report HTTP/2 and HTTP/1.1 requests: Kubernetes verbs and resources, client certificate identities and expiry.')
    .argument('<capture...>', 'pcap or pcapng files, read in order as one capture ("-" for standard input)')
    .option('--keylog <file>', 'an NSS key log file (repeatable)', collect, [])
    .addOption(new Option('--json', 'print the whole report as JSON').conflicts('ndjson'))
    .option('--ndjson', 'print one JSON object per request as it completes, then one per connection and identity')
    .option('--html <file>', 'also write a self-contained HTML report to FILE')
    .option('--expiring-within <days>', 'warn about certificates expiring within DAYS', parseDays, 30)
    .addOption(new Option('--expiry-from <when>', 'measure certificate expiry from the capture time or now').choices(['capture', 'now']).default('capture'))
    .option('--bodies', 'include response bodies (gzip decoded) in JSON output')
    .addHelpText('after', EXAMPLES)
    .action(async (captures: string[], opts: AnalyzeCliOptions) => analyze(captures, opts));
}

function parseDays(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new GokeylogError(`--expiring-within needs a whole number of days, not "${value}".`, ExitCode.usage);
  return n;
}

async function analyze(captures: string[], opts: AnalyzeCliOptions): Promise<void> {
  const warn = (message: string): void => void process.stderr.write(`gokeylog: warning: ${message}\n`);
  const bar = new cliProgress.SingleBar(
    { format: 'analyzing {bar} {percentage}% | {value}/{total} MiB | {requests} requests', hideCursor: true, stream: process.stderr },
    cliProgress.Presets.shades_classic,
  );
  let barStarted = false;
  try {
    await runAnalyze(
      {
        captures,
        keyLogFiles: opts.keylog,
        format: opts.ndjson ? 'ndjson' : opts.json ? 'json' : 'text',
        html: opts.html,
        expiringWithinDays: opts.expiringWithin,
        expiryFrom: opts.expiryFrom,
        bodies: opts.bodies ?? false,
        color: process.stdout.isTTY === true && !process.env.NO_COLOR,
      },
      {
        output: process.stdout,
        onWarning: warn,
        onProgress: (read, total, requests) => {
          if (!process.stderr.isTTY || total === undefined || total < PROGRESS_MIN_BYTES) return;
          const mib = (n: number): number => Math.round(n / 1048576);
          if (!barStarted) {
            bar.start(mib(total), 0, { requests });
            barStarted = true;
          }
          bar.update(mib(read), { requests });
        },
        onCapturesRead: () => {
          if (barStarted) bar.stop();
          barStarted = false;
        },
      },
    );
  } finally {
    if (barStarted) bar.stop();
  }
}
