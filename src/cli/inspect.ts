import type { Command } from 'commander';

export function registerInspect(program: Command): void {
  program.command('inspect').description('Locate crypto/tls writeKeyLog in a Go binary (work in progress)');
}
