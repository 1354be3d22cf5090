import { existsSync } from 'node:fs';
import type { Command } from 'commander';
import { inspectBinary, type ArgLocation, type InspectReport } from '../golang/index.js';
import { exitCodesHelp, GokeylogError } from '../util/errors.js';
import { BINARY_ERRORS, parsePid } from './options.js';
import { escapeControlLines } from '../util/terminal.js';

interface InspectOptions {
  pid?: number;
  reference?: string;
  json?: boolean;
}

const EXAMPLES = `
Examples:
  gokeylog inspect /usr/bin/etcd
  gokeylog inspect --pid 1234 --json
  gokeylog inspect ./kube-apiserver --reference ./hello-go1.19.1   # locate by code signature

Exit code 0 means writeKeyLog was found and its entry validated.
${exitCodesHelp(BINARY_ERRORS)}`;

export function registerInspect(program: Command): void {
  program
    .command('inspect')
    .description('Locate crypto/tls.(*Config).writeKeyLog in a Go binary (stripped or not) and report how to hook it.')
    .argument('[path]', 'the Go binary (ELF, x86-64 or AArch64)')
    .option('--pid <pid>', 'inspect the binary a running process executes (/proc/PID/exe)', parsePid)
    .option('--reference <ref>', 'an unstripped binary built by the same Go release: locate writeKeyLog by its code signature')
    .option('--json', 'print the report as JSON')
    .addHelpText('after', EXAMPLES)
    .action(async (path: string | undefined, opts: InspectOptions) => {
      const report = await inspectBinary(targetPath(path, opts.pid), opts.reference ? { reference: opts.reference } : {});
      process.stdout.write(opts.json ? `${JSON.stringify(reportJson(report), null, 2)}\n` : escapeControlLines(reportText(report)));
    });
}

function targetPath(path: string | undefined, pid: number | undefined): string {
  if ((path === undefined) === (pid === undefined)) {
    throw new GokeylogError('give either a PATH or --pid PID.', 'GOKEYLOG_ERR_USAGE');
  }
  if (path !== undefined) return path;
  const exe = `/proc/${pid}/exe`;
  if (!existsSync(`/proc/${pid}`)) throw new GokeylogError(`no process with PID ${pid} is running.`, 'GOKEYLOG_ERR_NO_SUCH_PROCESS');
  return exe;
}

const hex = (n: number): string => `0x${n.toString(16)}`;

/** The report with addresses as "0x…" strings. */
export function reportJson(r: InspectReport): Record<string, unknown> {
  return {
    path: r.path,
    arch: r.arch,
    elfType: r.elfType,
    pie: r.pie,
    linking: r.linking,
    cgo: r.cgo,
    stripped: r.stripped,
    goVersion: r.goVersion,
    goVersionSource: r.goVersionSource,
    mainModule: r.mainModule,
    mainPackage: r.mainPackage,
    dependencies: r.dependencies,
    abi: r.abi,
    pclntab: { vaddr: hex(r.pclntab.vaddr), format: r.pclntab.format, functionCount: r.pclntab.functionCount, source: r.pclntab.source },
    textStart: { vaddr: hex(r.textStart.vaddr), source: r.textStart.source },
    writeKeyLog: {
      vaddr: hex(r.writeKeyLog.vaddr),
      fileOffset: hex(r.writeKeyLog.fileOffset),
      method: r.writeKeyLog.method,
      validated: r.writeKeyLog.validated,
      args: r.writeKeyLog.args,
    },
  };
}

const describeArg = (arg: ArgLocation): string => ('register' in arg ? arg.register : `${arg.stackOffset}(SP)`);

const METHOD_NAMES: Record<InspectReport['writeKeyLog']['method'], string> = {
  symtab: 'the .symtab symbol table',
  dynsym: 'the .dynsym dynamic symbol table',
  pclntab: 'the pclntab',
  signature: 'code signature',
};

/** -s -w drops .symtab; a PIE may still export Go symbols in .dynsym, which is then what named writeKeyLog. */
function describeStripped(r: InspectReport): string {
  if (!r.stripped) return 'no';
  return r.writeKeyLog.method === 'dynsym' ? 'yes (no .symtab; its .dynsym names writeKeyLog)' : 'yes (no .symtab)';
}

/** The module and version; a GOPATH build (as Debian's) records only the main package's path. */
function describeMain(r: InspectReport): string {
  if (r.mainModule) return `${r.mainModule.path} ${r.mainModule.version}`;
  return r.mainPackage ? `${r.mainPackage} (main package; built without module information)` : '-';
}

function reportText(r: InspectReport): string {
  const args = r.writeKeyLog.args;
  const rows: [string, string][] = [
    ['path', r.path],
    ['arch', r.arch],
    ['elf type', `${r.elfType}${r.pie ? ' (PIE)' : ''}`],
    ['linking', `${r.linking}${r.cgo ? ', cgo' : ''}`],
    ['stripped', describeStripped(r)],
    ['go version', `${r.goVersion} (from ${r.goVersionSource})`],
    ['main module', describeMain(r)],
    ['dependencies', r.dependencies.length ? r.dependencies.map((d) => `${d.path} ${d.version}`).join(', ') : '-'],
    ['abi', r.abi],
    ['pclntab', `${hex(r.pclntab.vaddr)} (Go ${r.pclntab.format} format, ${r.pclntab.functionCount} functions, found by ${r.pclntab.source})`],
    ['text start', `${hex(r.textStart.vaddr)} (from ${r.textStart.source})`],
    ['writeKeyLog', `${hex(r.writeKeyLog.vaddr)} (found by ${METHOD_NAMES[r.writeKeyLog.method]}, prologue validated)`],
    ['file offset', hex(r.writeKeyLog.fileOffset)],
    ['label', `ptr ${describeArg(args.labelPtr)}, len ${describeArg(args.labelLen)}`],
    ['clientRandom', `ptr ${describeArg(args.clientRandomPtr)}, len ${describeArg(args.clientRandomLen)}`],
    ['secret', `ptr ${describeArg(args.secretPtr)}, len ${describeArg(args.secretLen)}`],
  ];
  const width = Math.max(...rows.map(([key]) => key.length));
  return rows.map(([key, value]) => `${`${key}:`.padEnd(width + 2)}${value}\n`).join('');
}
