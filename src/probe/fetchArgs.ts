import type { ArgLocation, GoArch, HookPlan } from '../golang/index.js';
import { GokeylogError } from '../util/errors.js';

/** What a probe needs from a hook plan to read writeKeyLog's arguments. */
export type ProbeArgs = Pick<HookPlan, 'arch' | 'args'>;

/**
 * Capture sizes of the byte arrays in a tracefs probe: the longest label Go writes
 * (CLIENT_HANDSHAKE_TRAFFIC_SECRET, 31), the client random (32) and the longest secret (48, a TLS 1.2
 * master secret or a SHA-384 TLS 1.3 secret). Each value is sliced to its real length afterwards.
 */
export const LABEL_CAPTURE = 31;
export const RANDOM_CAPTURE = 32;
export const SECRET_CAPTURE = 48;

const REGISTERS: Record<GoArch, ReadonlySet<string>> = {
  amd64: new Set(['ax', 'bx', 'cx', 'dx', 'si', 'di', 'bp', 'sp', 'r8', 'r9', 'r10', 'r11', 'r12', 'r13', 'r14', 'r15']),
  arm64: new Set(Array.from({ length: 31 }, (_, i) => `x${i}`).concat('sp')),
};

/** A location as a tracefs fetcharg: `%bx` or `+16(%sp)`. */
export function tracefsLocation(arch: GoArch, loc: ArgLocation): string {
  if ('register' in loc) return `%${checkedRegister(arch, loc.register)}`;
  return `+${checkedOffset(loc.stackOffset)}(%sp)`;
}

/**
 * The fetchargs of a writeKeyLog entry probe: each slice's bytes (dereferenced pointer) and its length.
 * `$comm` is read at the hit, so the command name is right even for short-lived processes.
 *
 * The kernel reads an array one element at a time, each a user-memory read in the target's own time: byte
 * arrays took 111 reads per hit and doubled its cost. u64 arrays read 8 bytes at a time (14 reads). The
 * 31-byte label is 3 u64 (bytes 0–23) and one u64 at +23 (bytes 23–30, overlapping by one): never past it.
 */
export function tracefsFetchArgs(p: ProbeArgs): string {
  const loc = (l: ArgLocation): string => tracefsLocation(p.arch, l);
  const a = p.args;
  return [
    `lab=+0(${loc(a.labelPtr)}):x64[${LABEL_HEAD / 8}]`,
    `labt=+${LABEL_CAPTURE - 8}(${loc(a.labelPtr)}):x64`,
    `labn=${loc(a.labelLen)}:u64`,
    `cr=+0(${loc(a.clientRandomPtr)}):x64[${RANDOM_CAPTURE / 8}]`,
    `crn=${loc(a.clientRandomLen)}:u64`,
    `sec=+0(${loc(a.secretPtr)}):x64[${SECRET_CAPTURE / 8}]`,
    `secn=${loc(a.secretLen)}:u64`,
    'comm=$comm',
  ].join(' ');
}

/** The label's first bytes, read as u64s (`lab`); its last 8 come from `labt`. */
export const LABEL_HEAD = 24;

/** The uprobe_events line of a writeKeyLog probe. */
export const tracefsProbeLine = (group: string, event: string, path: string, fileOffset: bigint, p: ProbeArgs): string =>
  uprobeLine(group, event, path, fileOffset, tracefsFetchArgs(p));

/** One uprobe_events definition line (without newline). tracefs splits on blanks, so the path cannot hold any. */
export function uprobeLine(group: string, event: string, path: string, fileOffset: bigint, fetchArgs: string): string {
  if (/\s/.test(path)) {
    throw new GokeylogError(`cannot probe ${JSON.stringify(path)}: tracefs takes no blanks in a path (select the process with --pid, which probes /proc/PID/exe).`, 'GOKEYLOG_ERR_UNPROBEABLE_PATH');
  }
  return `p:${group}/${event} ${path}:0x${fileOffset.toString(16)} ${fetchArgs}`;
}

/**
 * A location as a bpftrace expression. bpftrace names arm64 registers r0..r30 where the kernel says x0..x30.
 */
export function bpftraceLocation(arch: GoArch, loc: ArgLocation): string {
  if ('register' in loc) {
    const reg = checkedRegister(arch, loc.register);
    return `reg("${arch === 'arm64' && reg !== 'sp' ? `r${reg.slice(1)}` : reg}")`;
  }
  return `*(uint64 *)(reg("sp") + ${checkedOffset(loc.stackOffset)})`;
}

function checkedRegister(arch: GoArch, register: string): string {
  if (!REGISTERS[arch].has(register)) throw new Error(`${register} is not an ${arch} register`);
  return register;
}

function checkedOffset(offset: number): number {
  if (!Number.isInteger(offset) || offset < 0 || offset > 4096) throw new Error(`bad stack offset ${offset}`);
  return offset;
}
