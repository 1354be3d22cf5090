import { writeFile } from 'node:fs/promises';
import { Option, type Command } from 'commander';
import cliProgress from 'cli-progress';
import { analyzeCaptures } from '../analyze/index.js';
import { KeyLog, readKeyLogFiles } from '../keylog/index.js';
import { buildReport } from '../kube/index.js';
import { connectionJson, renderHtml, renderText, reportJson, reportJsonWithoutRequests, requestJson } from '../report/index.js';
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
    .action(async (captures: string[], opts: AnalyzeCliOptions) => runAnalyze(captures, opts));
}

function parseDays(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new GokeylogError(`--expiring-within needs a whole number of days, not "${value}".`, ExitCode.usage);
  return n;
}

async function runAnalyze(captures: string[], opts: AnalyzeCliOptions): Promise<void> {
  const warn = (message: string): void => void process.stderr.write(`gokeylog: warning: ${message}\n`);
  const keyLog = opts.keylog.length ? await readKeyLogFiles(opts.keylog, { onWarning: warn }) : new KeyLog();
  const bar = new cliProgress.SingleBar(
    { format: 'analyzing {bar} {percentage}% | {value}/{total} MiB | {requests} requests', hideCursor: true, stream: process.stderr },
    cliProgress.Presets.shades_classic,
  );
  let barStarted = false;
  let requests = 0;
  // A reader that stops early (`| head`) closes the pipe: stop analysing quietly, as Unix tools do.
  let outputError: NodeJS.ErrnoException | undefined;
  process.stdout.on('error', (err: NodeJS.ErrnoException) => (outputError ??= err));
  const out = (line: string): void => {
    if (outputError) throw new OutputClosed();
    process.stdout.write(line);
  };
  // --json and --ndjson stream requests as they complete so that memory does not grow with the capture;
  // --json writes them first (`{"requests":[…],"connections":[…],…}`: key order carries no meaning).
  const streamJson = opts.json === true && !opts.html;
  try {
    const result = await analyzeCaptures({
      captures,
      keyLog,
      bodies: opts.bodies ?? false,
      retainRequests: opts.html !== undefined || !(opts.ndjson || streamJson),
      onWarning: warn,
      onRequest: (r) => {
        requests += 1;
        if (opts.ndjson) out(`${JSON.stringify({ type: 'request', ...requestJson(r) })}\n`);
        else if (streamJson) out(`${requests === 1 ? '{"requests":[\n' : ',\n'}${JSON.stringify(requestJson(r))}`);
      },
      onProgress: (read, total) => {
        if (!process.stderr.isTTY || total === undefined || total < PROGRESS_MIN_BYTES) return;
        const mib = (n: number): number => Math.round(n / 1048576);
        if (!barStarted) {
          bar.start(mib(total), 0, { requests });
          barStarted = true;
        }
        bar.update(mib(read), { requests });
      },
    });
    if (barStarted) bar.stop();
    barStarted = false;

    if (keyLog.size === 0 && result.connections.some((c) => c.reason === 'no keys for client random')) {
      warn('no TLS keys were given (--keylog) or embedded in the captures (pcapng secrets blocks): nothing could be decrypted');
    }
    const report = buildReport(
      result.connections,
      result.requests,
      { expiringWithinDays: opts.expiringWithin, referenceTimeMs: opts.expiryFrom === 'now' ? null : result.lastPacketTimeMs },
      result.identityCalls,
    );
    if (opts.html) await writeHtml(opts.html, renderHtml(report));
    if (opts.ndjson) {
      for (const c of report.connections) out(`${JSON.stringify({ type: 'connection', ...connectionJson(c) })}\n`);
      for (const identity of reportJsonWithoutRequests(report).identities as object[]) out(`${JSON.stringify({ type: 'identity', ...identity })}\n`);
    } else if (streamJson) {
      const tail = JSON.stringify(reportJsonWithoutRequests(report), null, 1).slice(1);
      out(requests === 0 ? `{"requests":[],${tail}\n` : `\n],${tail}\n`);
    } else if (opts.json) {
      out(`${JSON.stringify(reportJson(report), null, 2)}\n`);
    } else {
      out(renderText(report, { color: process.stdout.isTTY === true && !process.env.NO_COLOR }));
    }
  } catch (err) {
    if (!(err instanceof OutputClosed)) throw err;
    if (outputError?.code !== 'EPIPE') {
      throw new GokeylogError(`cannot write the output: ${outputError?.code ?? outputError}.`, ExitCode.failure, { cause: outputError });
    }
  } finally {
    if (barStarted) bar.stop();
  }
}

/** Thrown out of the pipeline when standard output went away. */
class OutputClosed extends Error {}

async function writeHtml(file: string, html: string): Promise<void> {
  try {
    await writeFile(file, html, { mode: 0o600 });
  } catch (err) {
    throw new GokeylogError(`cannot write the HTML report ${file}: ${(err as NodeJS.ErrnoException).code ?? err}.`, ExitCode.failure, { cause: err });
  }
}
