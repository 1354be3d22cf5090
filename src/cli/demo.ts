import os from 'node:os';
import type { Command } from 'commander';
import { exitCodesHelp } from '../util/errors.js';
import { runDemo } from '../demo/demo.js';
import { runRealDemo } from '../demo/realDemo.js';
import { withStopSignal } from './signals.js';

export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description('Run the whole product on a built-in scenario: hook, capture and analyse a stripped Go server with mutual TLS 1.3 (root; needs `bash scripts/setup.sh`).')
    .option('--keep <dir>', 'keep the capture, key log and certificates in DIR (made 0700; an existing DIR gets a new folder inside it)')
    .option('--real', 'play it on a real Kubernetes API server, etcd and kubectl from Debian (needs `bash scripts/setup-kube.sh`)')
    .addHelpText('after', `
Examples:
  sudo gokeylog demo
  sudo gokeylog demo --keep /tmp/gokeylog-demo && wireshark /tmp/gokeylog-demo/demo.pcapng
  sudo gokeylog demo --real    # after bash scripts/setup-kube.sh

${exitCodesHelp(['GOKEYLOG_ERR_IO', 'GOKEYLOG_ERR_NEEDS_ROOT', 'GOKEYLOG_ERR_TOOL', 'GOKEYLOG_ERR_NOT_SET_UP'])}`)
    .action(async (opts: { keep?: string; real?: boolean }) =>
      withStopSignal((signal) => {
        // Stopped by a signal: end now with the status a shell gives a process the signal killed.
        const onStopped = (): void => {
          if (signal.reason !== 'exit') process.exit(128 + (os.constants.signals[signal.reason as NodeJS.Signals] ?? 1));
        };
        const run = { keep: opts.keep, out: process.stdout, signal, onStopped };
        return opts.real ? runRealDemo(run) : runDemo(run);
      }),
    );
}
