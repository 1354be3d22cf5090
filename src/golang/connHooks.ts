import { readElf, withFile } from '../elf/index.js';
import { GokeylogError } from '../util/errors.js';
import type { ArgLocation } from './args.js';
import { openGoBinary } from './binary.js';
import { readBuildInfo } from './buildinfo.js';
import { CONN_READ, CONN_WRITE } from './functions.js';
import { goVersion, locateAndValidate, type GoVersionSource, type ValidatedEntry } from './inspect.js';
import type { GoAbi, GoArch } from './version.js';

/** Where `conns` may attach: the validated entries of (*tls.Conn).Read and Write, and where their *Conn is. */
export interface ConnHookPlan {
  path: string;
  arch: GoArch;
  abi: GoAbi;
  goVersion: string;
  goVersionSource: GoVersionSource;
  read: ValidatedEntry;
  write: ValidatedEntry;
  validated: true;
  /** The receiver at entry: the first integer register, or 8(SP) with ABI0 (above the return address / LR slot). */
  conn: ArgLocation;
}

/** Locates and validates both entries; throws a GokeylogError (one sentence) unless both validate with the same ABI. */
export function planConnHooks(path: string): Promise<ConnHookPlan> {
  return withFile(path, async (reader) => {
    const elf = await readElf(reader);
    const binary = await openGoBinary(elf);
    if (!binary) throw new GokeylogError(`${path} is not a Go binary (it has no pclntab).`, 'GOKEYLOG_ERR_UNSUPPORTED_BINARY');
    const { version, source } = await goVersion(elf, binary, await readBuildInfo(elf));
    const read = await locateAndValidate(binary, CONN_READ, version);
    const write = await locateAndValidate(binary, CONN_WRITE, version);
    if (read.abi !== write.abi) {
      throw new GokeylogError(`${path}: (*Conn).Read has a ${read.abi}-ABI prologue but (*Conn).Write a ${write.abi}-ABI one.`, 'GOKEYLOG_ERR_NOT_VALIDATED');
    }
    const conn: ArgLocation = read.abi === 'register' ? { register: binary.arch === 'amd64' ? 'ax' : 'x0' } : { stackOffset: 8 };
    return { path, arch: binary.arch, abi: read.abi, goVersion: version, goVersionSource: source, read, write, validated: true, conn };
  });
}
