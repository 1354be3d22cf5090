import type { Command } from 'commander';
import { exitCodesHelp } from '../util/errors.js';
import { runInject } from '../inject/index.js';
import { CAPTURE_FILE_ERRORS, collect } from './options.js';
import { bytesProgress, StatusLine, summaryLine, warn } from './output.js';

interface InjectCliOptions {
  keylog: string[];
  output: string;
  discardSecrets?: boolean;
  onlyNeeded?: boolean;
  json?: boolean;
}

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
  tcpdump -i any -w - port 6443 | gokeylog inject --keylog keys.log - -o live.pcapng

${exitCodesHelp([...CAPTURE_FILE_ERRORS, 'GOKEYLOG_ERR_UNSAFE_OUTPUT'])}`)
    .action(async (input: string, opts: InjectCliOptions) => {
      const status = new StatusLine();
      const summary = await runInject(
        { input, keyLogFiles: opts.keylog, output: opts.output, discardSecrets: opts.discardSecrets ?? false, onlyNeeded: opts.onlyNeeded ?? false },
        { stdout: process.stdout, onWarning: warn, onProgress: (read, total) => (opts.json ? undefined : status.update(() => `inject: ${bytesProgress(read, total)}`)) },
      ).finally(() => status.clear());
      if (opts.json) process.stdout.write(`${JSON.stringify(summary)}\n`);
      else {
        const dropped = summary.keysDropped > 0 ? ` (${summary.keysDropped} not needed, dropped)` : '';
        const kept = summary.secretsBlocksKept + summary.secretsBlocksDiscarded > 0
          ? `; ${summary.secretsBlocksKept} secrets blocks kept, ${summary.secretsBlocksDiscarded} discarded` : '';
        const where = summary.output === '-' ? 'standard output' : summary.output;
        summaryLine(`${where}: ${summary.packets} packets, ${summary.keysInjected} keys injected${dropped}${kept}; ${summary.inputBytes} bytes read, ${summary.outputBytes} written.`);
      }
    });
}
