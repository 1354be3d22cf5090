import { Command, CommanderError } from 'commander';
import { errnoReason, ExitCode, GokeylogError } from '../util/errors.js';
import { escapeControl } from '../util/terminal.js';

type Register = (program: Command) => void;

/**
 * Each command's module is loaded only when that command runs: start-up time is most of a short command's
 * run time (inspect's budget is 3x `node -e 0`), and analyze's or capture's modules are not needed to inspect.
 */
const commands: Record<string, () => Promise<Register>> = {
  inspect: async () => (await import('./inspect.js')).registerInspect,
  keylog: async () => (await import('./keylog.js')).registerKeylog,
  conns: async () => (await import('./conns.js')).registerConns,
  bpftrace: async () => (await import('./bpftrace.js')).registerBpftrace,
  capture: async () => (await import('./capture.js')).registerCapture,
  inject: async () => (await import('./inject.js')).registerInject,
  analyze: async () => (await import('./analyze.js')).registerAnalyze,
  demo: async () => (await import('./demo.js')).registerDemo,
  status: async () => (await import('./status.js')).registerStatus,
  completion: async () => (await import('./completion.js')).registerCompletion,
};

const EXAMPLES = `
Examples:
  gokeylog inspect /usr/local/bin/kube-apiserver             # can it be hooked? where is writeKeyLog?
  gokeylog keylog --process kube-apiserver -o apiserver.keys  # NSS key log, until Ctrl-C
  gokeylog capture --process kube-apiserver -f 'tcp port 6443' -w apiserver.pcapng
  gokeylog analyze apiserver.pcapng                           # who called what, with which certificate
  gokeylog inject --keylog apiserver.keys old.pcap -o decryptable.pcapng
  sudo gokeylog demo                                          # all of it on a built-in scenario

Run 'gokeylog <command> --help' for a command's options, examples and exit codes.`;

// A reader that stops early (`gokeylog analyze --help | head -1`) closes stdout: that is no error of ours.
// Commands that stream (analyze, keylog, capture, inject) stop on it by their own listeners; whatever else
// was being written is dropped and the process ends with the exit code the command had.
let stdoutFailed = false;
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (stdoutFailed) return; // later writes to the destroyed stream fail too: one report is enough
  stdoutFailed = true;
  if (err.code === 'EPIPE') return;
  process.stderr.write(`gokeylog: cannot write to standard output: ${errnoReason(err)}.\n`);
  process.exitCode = ExitCode.failure;
});

// Nor is a reader of stderr that went away (a parent that stopped reading, a closed terminal): its notices and
// summary are dropped, and the command still stops and removes its probes as it would have. Unhandled, the
// failed write ended the process with an uncaught error (exit 1) in the middle of whatever it was doing.
process.stderr.on('error', () => {});

/** commander's own errors ("error: unknown option '--x'") in our style: `gokeylog: unknown option '--x'.` */
const outputError = (text: string, write: (s: string) => void): void => {
  const sentence = text.trim().replace(/^error: /, '').replace(/\s*\n\s*/g, ' ');
  write(`gokeylog: ${sentence}${/[.?!)]$/.test(sentence) ? '' : '.'}\n`);
};

const program = new Command()
  .name('gokeylog')
  .description('Read the TLS traffic of Go programs, even stripped ones: key logs, decrypting pcapng, Kubernetes API analysis.')
  .version('0.1.0')
  .configureOutput({ outputError })
  .showHelpAfterError("See 'gokeylog --help'.")
  .addHelpText('after', EXAMPLES)
  .exitOverride();

// The first word that is not an option names the command; help, a typo or nothing at all needs them all.
const firstWord = process.argv.slice(2).find((arg) => !arg.startsWith('-')) ?? '';
const named = commands[firstWord];
for (const load of named ? [named] : Object.values(commands)) (await load())(program);
// A usage error names the help to read rather than printing all of it.
for (const command of program.commands) command.showHelpAfterError(`See 'gokeylog ${command.name()} --help'.`);

try {
  await program.parseAsync(process.argv);
} catch (err) {
  process.exitCode = exitCodeFor(err);
}

function exitCodeFor(err: unknown): number {
  if (err instanceof CommanderError) {
    // --help and --version arrive here as "errors" with exit code 0.
    return err.exitCode === 0 ? ExitCode.ok : ExitCode.usage;
  }
  if (err instanceof GokeylogError) {
    process.stderr.write(`gokeylog: ${escapeControl(err.message)}\n`);
    // Our own usage errors name the help too, like commander's (see showHelpAfterError above).
    if (err.exitCode === ExitCode.usage) process.stderr.write(named !== undefined ? `See 'gokeylog ${firstWord} --help'.\n` : "See 'gokeylog --help'.\n");
    return err.exitCode;
  }
  process.stderr.write(`gokeylog: internal error: ${escapeControl(err instanceof Error ? err.message : String(err))}\n`);
  if (process.env.GOKEYLOG_DEBUG && err instanceof Error) process.stderr.write(`${err.stack}\n`);
  return ExitCode.failure;
}
