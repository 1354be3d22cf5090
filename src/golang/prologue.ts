import type { GoAbi, GoArch } from './version.js';

/** How many bytes of a function entry the checks look at. */
export const PROLOGUE_BYTES = 32;

export type PrologueCheck = { ok: true; abi: GoAbi; shape: string } | { ok: false; seen: string };

/** Hex of the first bytes, for messages that say what was there instead. */
export const hexBytes = (bytes: Uint8Array, count = 16): string =>
  Array.from(bytes.subarray(0, count), (b) => b.toString(16).padStart(2, '0')).join(' ');

/**
 * The stack-bound check Go puts at every non-leaf function entry (cmd/internal/obj/{x86,arm64} stacksplit):
 * load g.stackguard0 (g at 16 bytes offset), compare with SP (or SP − frame), branch to morestack.
 * Its form also says the ABI: the register ABI keeps g in R14 (amd64); ABI0 loads g from TLS.
 */
export function checkPrologue(arch: GoArch, bytes: Uint8Array): PrologueCheck {
  return arch === 'amd64' ? checkAmd64(bytes) : checkArm64(bytes);
}

/** Byte pattern with `null` as a wildcard, matched at `offset`; returns the length matched or 0. */
function match(bytes: Uint8Array, offset: number, pattern: readonly (number | null)[]): number {
  if (offset + pattern.length > bytes.length) return 0;
  for (let i = 0; i < pattern.length; i++) if (pattern[i] !== null && bytes[offset + i] !== pattern[i]) return 0;
  return pattern.length;
}

const _ = null;
/** jbe rel8 / jbe rel32 (unsigned "SP at or below the guard"). */
const JBE = [[0x76, _], [0x0f, 0x86, _, _, _, _]] as const;

function firstMatch(bytes: Uint8Array, offset: number, patterns: readonly (readonly (number | null)[])[]): number {
  for (const pattern of patterns) {
    const length = match(bytes, offset, pattern);
    if (length) return length;
  }
  return 0;
}

function checkAmd64(bytes: Uint8Array): PrologueCheck {
  // Register ABI: g is R14. Small frame: cmp rsp,[r14+16]; larger: lea r12,[rsp-N]; cmp r12,[r14+16].
  const register = [
    [0x49, 0x3b, 0x66, 0x10],
    [0x4c, 0x8d, 0x64, 0x24, _, 0x4d, 0x3b, 0x66, 0x10],
    [0x4c, 0x8d, 0xa4, 0x24, _, _, _, _, 0x4d, 0x3b, 0x66, 0x10],
  ];
  let length = firstMatch(bytes, 0, register);
  if (length && firstMatch(bytes, length, JBE)) return { ok: true, abi: 'register', shape: 'cmp SP,16(R14); jbe' };
  // ABI0: g from TLS: mov rcx,fs:[-8] (local exec); in a PIE mov rcx,-8; mov rcx,fs:[rcx] (Go 1.15), or
  // mov rcx,[rip+x]; mov rcx,fs:[rcx] (initial exec, shared).
  const loadG = [
    [0x64, 0x48, 0x8b, 0x0c, 0x25, 0xf8, 0xff, 0xff, 0xff],
    [0x48, 0xc7, 0xc1, 0xf8, 0xff, 0xff, 0xff, 0x64, 0x48, 0x8b, 0x09],
    [0x48, 0x8b, 0x0d, _, _, _, _, 0x64, 0x48, 0x8b, 0x09],
  ];
  const compare = [
    [0x48, 0x3b, 0x61, 0x10],
    [0x48, 0x8d, 0x44, 0x24, _, 0x48, 0x3b, 0x41, 0x10],
    [0x48, 0x8d, 0x84, 0x24, _, _, _, _, 0x48, 0x3b, 0x41, 0x10],
  ];
  length = firstMatch(bytes, 0, loadG);
  const compared = length ? firstMatch(bytes, length, compare) : 0;
  if (compared && firstMatch(bytes, length + compared, JBE)) return { ok: true, abi: 'stack', shape: 'mov g from TLS; cmp SP,16(g); jbe' };
  return { ok: false, seen: hexBytes(bytes) };
}

const word = (bytes: Uint8Array, i: number): number | undefined =>
  4 * i + 4 <= bytes.length ? (bytes[4 * i]! | (bytes[4 * i + 1]! << 8) | (bytes[4 * i + 2]! << 16) | (bytes[4 * i + 3]! << 24)) >>> 0 : undefined;

function checkArm64(bytes: Uint8Array): PrologueCheck {
  // ldr xT, [x28, #16]: g is R28; T is R16 (REGRT1) with the register ABI, R1 before it.
  const first = word(bytes, 0);
  const target = first !== undefined && (first & 0xffffffe0) >>> 0 === 0xf9400b80 ? first & 0x1f : undefined;
  if (target === undefined) return { ok: false, seen: hexBytes(bytes) };
  // Then, within a few instructions: cmp (subs xzr, …) and b.ls / b.lo to the morestack call.
  let compared = false;
  for (let i = 1; i < 6; i++) {
    const w = word(bytes, i);
    if (w === undefined) break;
    if ((w & 0x7f00001f) >>> 0 === 0x6b00001f) compared = true;
    else if (compared && ((w & 0xff00001f) >>> 0 === 0x54000009 || (w & 0xff00001f) >>> 0 === 0x54000003)) {
      return { ok: true, abi: target === 16 ? 'register' : 'stack', shape: `ldr x${target},[x28,#16]; cmp; b.ls` };
    }
  }
  return { ok: false, seen: hexBytes(bytes) };
}
