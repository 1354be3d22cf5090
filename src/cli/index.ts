import { Command, CommanderError } from 'commander';
import { ExitCode, GokeylogError } from '../util/errors.js';
import { registerInspect } from './inspect.js';
import { registerInject } from './inject.js';
import { registerKeylog } from './keylog.js';
import { registerBpftrace } from './bpftrace.js';
import { registerAnalyze } from './analyze.js';
import { registerCapture } from './capture.js';
import { registerDemo } from './demo.js';

const program = new Command()
  .name('gokeylog')
  .description('Read the TLS traffic of Go programs, even stripped ones: key logs, decrypting pcapng, Kubernetes API analysis.')
  .version('0.1.0')
  .showHelpAfterError()
  .exitOverride();

registerInspect(program);
registerInject(program);
registerKeylog(program);
registerBpftrace(program);
registerAnalyze(program);
registerCapture(program);
registerDemo(program);

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
    process.stderr.write(`gokeylog: ${err.message}\n`);
    return err.exitCode;
  }
  process.stderr.write(`gokeylog: internal error: ${err instanceof Error ? err.message : String(err)}\n`);
  if (process.env.GOKEYLOG_DEBUG && err instanceof Error) process.stderr.write(`${err.stack}\n`);
  return ExitCode.failure;
}
