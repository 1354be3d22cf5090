import path from 'node:path';
import type { Command } from 'commander';
import { planHook } from '../golang/index.js';
import { bpftraceScript } from '../probe/index.js';
import { exitCodesHelp, GokeylogError } from '../util/errors.js';
import { BINARY_ERRORS, parsePid } from './options.js';

export function registerBpftrace(program: Command): void {
  program
    .command('bpftrace')
    .description('Print a bpftrace script that logs the TLS secrets of a Go binary or process (right for stripped binaries).')
    .argument('[binary]', 'the Go executable to hook')
    .option('--pid <pid>', 'hook the executable of this process, through /proc/PID/exe (works across mount namespaces)', parsePid)
    .addHelpText('after', `
Examples:
  gokeylog bpftrace /usr/local/bin/kube-apiserver > tlssecrets.bt
  gokeylog bpftrace --pid 1234 > tlssecrets.bt                  # a process in a container
  bpftrace --unsafe tlssecrets.bt | awk '…'                     # the pipeline is in the script's header
${exitCodesHelp(BINARY_ERRORS)}`)
    .action(async (binary: string | undefined, opts: { pid?: number }) => {
      if ((binary === undefined) === (opts.pid === undefined)) {
        throw new GokeylogError('give either a binary path or --pid PID.', 'GOKEYLOG_ERR_USAGE');
      }
      // bpftrace needs an absolute path; /proc/PID/exe reaches the inode even when the process lives under another root.
      const probePath = opts.pid !== undefined ? `/proc/${opts.pid}/exe` : path.resolve(binary!);
      const plan = await planHook(probePath);
      process.stdout.write(bpftraceScript({ path: probePath, fileOffset: plan.fileOffset, arch: plan.arch, args: plan.args }, plan));
    });
}
