import { createWriteStream } from 'node:fs';
import type { Command } from 'commander';
import cliProgress from 'cli-progress';
import { KeyLog, bytesToHex, readKeyLogFiles } from '../keylog/index.js';
import { PcapngWriter, clientRandomsIn, injectSecrets, type InjectSummary } from '../pcap/index.js';
import { ExitCode, GokeylogError } from '../util/errors.js';
import { SecretOutput, sameFile } from '../util/secretFile.js';
import { collect } from './options.js';
import { escapeControl } from '../util/terminal.js';

interface InjectCliOptions {
  keylog: string[];
  output: string;
  discardSecrets?: boolean;
  onlyNeeded?: boolean;
  json?: boolean;
}

/** Inputs smaller than this finish before a progress bar would be worth drawing. */
const PROGRESS_MIN_BYTES = 64 * 1024 * 1024;

export function registerInject(program: Command): void {
  program
    .command('inject')
    .description('Embed NSS key logs into a capture as a pcapng Decryption Secrets Block, so Wireshark decrypts it with no options (like editcap --inject-secrets).')
    .argument('<input>', 'pcap or pcapng capture ("-" for standard input)')
    .requiredOption('--keylog <file>', 'NSS key log to embed (repeat to merge several)', collect)
    .requiredOption('-o, --output <file>', 'pcapng to write ("-" for standard output): a new file of mode 0600 (it holds secrets) that replaces FILE once the input is read')
    .option('--discard-secrets', 'drop the Decryption Secrets Blocks the input already has')
    .option('--only-needed', 'keep only the keys of connections whose ClientHello is in the capture (reads the input twice)')
    .option('--json', 'print the summary as JSON')
    .addHelpText('after', `
Examples:
  gokeylog inject --keylog keys.log capture.pcap -o decrypted.pcapng
  gokeylog inject --keylog a.log --keylog b.log --only-needed big.pcapng -o small-keys.pcapng
  tcpdump -i any -w - port 6443 | gokeylog inject --keylog keys.log - -o live.pcapng`)
    .action(async (input: string, opts: InjectCliOptions) => {
      const summary = await runInject(input, opts);
      if (opts.json) process.stdout.write(`${JSON.stringify(summary)}\n`);
      else {
        const dropped = summary.keysDropped > 0 ? ` (${summary.keysDropped} not needed, dropped)` : '';
        const kept = summary.secretsBlocksKept + summary.secretsBlocksDiscarded > 0
          ? `; ${summary.secretsBlocksKept} secrets blocks kept, ${summary.secretsBlocksDiscarded} discarded` : '';
        const where = summary.output === '-' ? 'standard output' : summary.output;
        process.stderr.write(`${where}: ${summary.packets} packets, ${summary.keysInjected} keys injected${dropped}${kept}; ${summary.inputBytes} bytes read, ${summary.outputBytes} written.\n`);
      }
    });
}

interface InjectResult extends InjectSummary {
  output: string;
  keysInjected: number;
  keysDropped: number;
}

async function runInject(input: string, opts: InjectCliOptions): Promise<InjectResult> {
  const toStdout = opts.output === '-';
  if (!toStdout && input !== '-' && sameFile(input, opts.output)) {
    throw new GokeylogError(`the output ${opts.output} is the input: write to another file.`, ExitCode.usage);
  }
  if (opts.onlyNeeded && input === '-') throw new GokeylogError('--only-needed reads the input twice, so it needs a file, not standard input.', ExitCode.usage);
  const warn = (message: string): void => void process.stderr.write(`gokeylog: warning: ${escapeControl(message)}\n`);
  let keyLog = await readKeyLogFiles(opts.keylog, { onWarning: warn });
  if (keyLog.size + keyLog.midstreamSize === 0) throw new GokeylogError(`no keys in ${opts.keylog.join(', ')}.`, ExitCode.unsupportedInput);
  const keysRead = keyLog.size + keyLog.midstreamSize;
  if (opts.onlyNeeded) keyLog = neededKeys(keyLog, await clientRandomsIn(input, { onWarning: warn }));
  if (keyLog.size + keyLog.midstreamSize === 0) warn('no key belongs to a connection in the capture: no secrets block written');

  // A new file takes the name of -o only when the whole input was read: a failed run leaves -o as it was.
  const secretOut = toStdout ? undefined : SecretOutput.open(opts.output, 'the output', 'replace');
  const outFd = secretOut?.fd;
  const out = outFd === undefined ? process.stdout : createWriteStream('', { fd: outFd, highWaterMark: 8 * 1024 * 1024 });
  const writer = new PcapngWriter(out, { name: toStdout ? 'standard output' : opts.output });
  const progress = opts.json || !process.stderr.isTTY ? undefined : new ProgressBar();
  let ok = false;
  try {
    const summary = await injectSecrets(input, writer, {
      keyLogText: keyLog.toText(),
      discardSecrets: opts.discardSecrets,
      userAppl: 'gokeylog inject',
      onWarning: warn,
      onProgress: (read, total) => progress?.update(read, total),
    });
    await writer.end();
    secretOut?.commit();
    ok = true;
    const injected = keyLog.size + keyLog.midstreamSize;
    return { output: opts.output, ...summary, keysInjected: injected, keysDropped: keysRead - injected };
  } finally {
    progress?.stop();
    if (!ok && secretOut !== undefined) {
      (out as NodeJS.WritableStream & { destroy(): void }).destroy();
      secretOut.discard();
    }
  }
}

function neededKeys(keyLog: KeyLog, randoms: Set<string>): KeyLog {
  const needed = new KeyLog();
  for (const e of keyLog.entries()) if (randoms.has(bytesToHex(e.clientRandom))) needed.add(e);
  // Mid-stream secrets belong to connections whose ClientHello no capture has: they stay.
  for (const s of keyLog.midstreamEntries()) needed.addMidstream(s);
  return needed;
}

/** A progress bar on stderr, shown only for inputs big enough to need one. */
class ProgressBar {
  #bar: cliProgress.SingleBar | undefined;

  update(read: number, total: number | undefined): void {
    if (!this.#bar) {
      if (total === undefined || total < PROGRESS_MIN_BYTES) return;
      this.#bar = new cliProgress.SingleBar({ stream: process.stderr, format: 'inject [{bar}] {percentage}% | {value}/{total} MiB | eta {eta}s', clearOnComplete: true }, cliProgress.Presets.shades_classic);
      this.#bar.start(Math.ceil(total / 2 ** 20), 0);
    }
    this.#bar.update(Math.floor(read / 2 ** 20));
  }

  stop(): void {
    this.#bar?.stop();
  }
}
