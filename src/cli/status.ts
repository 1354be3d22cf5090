import type { Command } from 'commander';
import { K8S_COMPONENTS } from '../probe/presets.js';
import { nodeStatus, type ComponentStatus, type NodeStatus } from '../status/status.js';
import { ExitCode, exitCodesHelp, GokeylogError } from '../util/errors.js';

interface StatusOptions {
  json?: boolean;
}

export function registerStatus(program: Command): void {
  program
    .command('status')
    .description('List the Kubernetes control-plane components running on this node, their binaries and Go versions, and whether each can be hooked.')
    .option('--json', 'print the status as one JSON object')
    .addHelpText('after', `
Components looked for: ${K8S_COMPONENTS.join(', ')} (the names --k8s takes). Among look-alikes (a wrapper
shell, a copy that does not serve) the one --k8s would pick is listed, and the others are named with why.
Nothing is attached: "hookable" is inspect's verdict on the binary.

Examples:
  gokeylog status
  gokeylog status --json | jq '.components[] | select(.hookable | not)'

${exitCodesHelp(['GOKEYLOG_ERR_IO'], { [ExitCode.notFound]: 'no control-plane component runs here' })}`)
    .action(async (opts: StatusOptions) => {
      const status = await nodeStatus();
      process.stdout.write(opts.json ? `${JSON.stringify(status, null, 2)}\n` : statusText(status));
      if (status.components.length === 0 && !opts.json) throw new GokeylogError('no Kubernetes control-plane component runs on this node.', 'GOKEYLOG_ERR_NO_SUCH_PROCESS');
      if (status.components.length === 0) process.exitCode = ExitCode.notFound;
    });
}

const COLUMNS: { title: string; cell: (c: ComponentStatus) => string }[] = [
  { title: 'COMPONENT', cell: (c) => c.component },
  { title: 'PID', cell: (c) => String(c.pid) },
  { title: 'CONTAINER', cell: (c) => (c.container ? c.container.id.slice(0, 13) : '-') },
  { title: 'GO', cell: (c) => c.goVersion ?? '-' },
  { title: 'PORTS', cell: (c) => c.ports.join(',') || '-' },
  { title: 'HOOKABLE', cell: (c) => (c.hookable ? 'yes' : 'no') },
  { title: 'BINARY', cell: (c) => c.binary },
];

/** Aligned columns with no box drawing, so grep/awk/cut work; the verdicts follow, one line each. */
export function statusText(status: NodeStatus): string {
  if (status.components.length === 0 && status.passedOver.length === 0) return '';
  const rows = [COLUMNS.map((c) => c.title), ...status.components.map((s) => COLUMNS.map((c) => c.cell(s)))];
  const widths = COLUMNS.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  const lines = rows.map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  '));
  for (const c of status.components) lines.push(`${c.component} (pid ${c.pid}): ${c.verdict}; chosen: ${c.why}.`);
  for (const p of status.passedOver) lines.push(`${p.component}: passed over pid ${p.pid}: ${p.reason}.`);
  return `${lines.join('\n')}\n`;
}
