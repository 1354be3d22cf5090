import { readElf, withFile } from '../elf/index.js';
import { openGoBinary } from './binary.js';
import { readBuildInfo } from './buildinfo.js';
import { inspectBinary, type InspectOptions, type LocateMethod } from './inspect.js';
import type { WriteKeyLogArgs } from './args.js';
import type { GoAbi, GoArch } from './version.js';

export type { GoAbi, GoArch, PclntabFormat } from './version.js';
export type { ArgLocation, WriteKeyLogArgs } from './args.js';
export { inspectBinary, WRITE_KEY_LOG, type InspectReport, type InspectOptions, type GoVersionSource, type LocateMethod } from './inspect.js';

export interface HookPlan {
  path: string;
  arch: GoArch;
  abi: GoAbi;
  goVersion: string;
  vaddr: bigint;
  /** vaddr − p_vaddr + p_offset of the PT_LOAD holding vaddr: what a uprobe takes. */
  fileOffset: bigint;
  method: LocateMethod;
  validated: true;
  args: WriteKeyLogArgs;
}

/** Reads only the byte ranges it needs. Throws GokeylogError (unsupportedInput / notFound) with one clear sentence. */
export async function planHook(path: string, options?: InspectOptions): Promise<HookPlan> {
  const report = await inspectBinary(path, options);
  const { writeKeyLog } = report;
  return {
    path,
    arch: report.arch,
    abi: report.abi,
    goVersion: report.goVersion,
    vaddr: BigInt(writeKeyLog.vaddr),
    fileOffset: BigInt(writeKeyLog.fileOffset),
    method: writeKeyLog.method,
    validated: true,
    args: writeKeyLog.args,
  };
}

/** Whether a file is a Go program (Go build info or a pclntab); false for anything unreadable or not ELF. */
export async function isGoProgram(path: string): Promise<boolean> {
  try {
    return await withFile(path, async (reader) => {
      const elf = await readElf(reader);
      return (await readBuildInfo(elf)) !== undefined || (await openGoBinary(elf)) !== undefined;
    });
  } catch {
    return false;
  }
}
export { planConnHooks, type ConnHookPlan } from './connHooks.js';
export { CONN_READ, CONN_WRITE } from './functions.js';
