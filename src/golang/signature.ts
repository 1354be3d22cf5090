import { readVaddr, type ElfFile } from '../elf/index.js';
import { GokeylogError } from '../util/errors.js';
import type { GoArch } from './version.js';
import { decodeX86 } from './x86.js';

/** Code bytes with a bit mask: a target matches where (byte & mask) === (pattern & mask). */
export interface Signature {
  arch: GoArch;
  pattern: Buffer;
  mask: Buffer;
}

const MAX_SIGNATURE = 512;
const MIN_SIGNATURE = 24;
const SEARCH_CHUNK = 8 << 20;

/**
 * The bytes of a function from its entry to its `calls`-th direct call (included; the first by default), with everything that depends
 * on where things were laid out masked out: branch and call displacements, PC-relative addresses, memory
 * displacements (struct fields and stack slots). What is left is the compiler's instruction choice for this
 * function in this Go release.
 */
export function signatureFromCode(arch: GoArch, code: Buffer, calls = 1): Signature {
  const { length, mask } = arch === 'amd64' ? maskAmd64(code, calls) : maskArm64(code, calls);
  if (length < MIN_SIGNATURE) {
    throw new GokeylogError(`the reference function yields only ${length} signature bytes, too few to search for.`, 'GOKEYLOG_ERR_WRITEKEYLOG_NOT_FOUND');
  }
  // Canonical form: masked-out bits are zero, so equal signatures have equal bytes.
  const pattern = Buffer.from(code.subarray(0, length));
  for (let i = 0; i < length; i++) pattern[i]! &= mask[i]!;
  return { arch, pattern, mask: mask.subarray(0, length) };
}

function maskAmd64(code: Buffer, calls: number): { length: number; mask: Buffer } {
  const mask = Buffer.alloc(Math.min(code.length, MAX_SIGNATURE), 0xff);
  let offset = 0;
  while (offset < mask.length) {
    const insn = decodeX86(code, offset);
    if (!insn || offset + insn.length > mask.length) break;
    for (const [from, to] of insn.variable) mask.fill(0, offset + from, offset + to);
    offset += insn.length;
    if (insn.isCall && --calls === 0) break;
  }
  return { length: offset, mask };
}

/** Per AArch64 instruction class, the bits that stay the same wherever the code and data land. */
function arm64Keep(w: number): { keep: number; isCall: boolean } {
  if ((w & 0xfc000000) >>> 0 === 0x94000000) return { keep: 0xfc000000, isCall: true }; // bl
  if ((w & 0xfc000000) >>> 0 === 0x14000000) return { keep: 0xfc000000, isCall: false }; // b
  if ((w & 0xff000010) >>> 0 === 0x54000000) return { keep: 0xff00001f, isCall: false }; // b.cond
  if ((w & 0x7e000000) >>> 0 === 0x34000000) return { keep: 0xff00001f, isCall: false }; // cbz/cbnz
  if ((w & 0x7e000000) >>> 0 === 0x36000000) return { keep: 0xfff8001f, isCall: false }; // tbz/tbnz
  if ((w & 0x1f000000) >>> 0 === 0x10000000) return { keep: 0x9f00001f, isCall: false }; // adr/adrp
  if ((w & 0x3b000000) >>> 0 === 0x18000000) return { keep: 0xff00001f, isCall: false }; // ldr literal
  if ((w & 0x1f000000) >>> 0 === 0x11000000) return { keep: 0xffc003ff, isCall: false }; // add/sub immediate
  if ((w & 0x3b000000) >>> 0 === 0x39000000) return { keep: 0xffc003ff, isCall: false }; // ldr/str unsigned offset
  if ((w & 0x3a000000) >>> 0 === 0x28000000) return { keep: 0xffc07fff, isCall: false }; // ldp/stp
  if ((w & 0x3b200c00) >>> 0 === 0x38000000) return { keep: 0xffe00fff, isCall: false }; // ldur/stur
  return { keep: 0xffffffff, isCall: false };
}

function maskArm64(code: Buffer, calls: number): { length: number; mask: Buffer } {
  const limit = Math.min(code.length, MAX_SIGNATURE) & ~3;
  const mask = Buffer.alloc(limit);
  let offset = 0;
  while (offset < limit) {
    const { keep, isCall } = arm64Keep(code.readUInt32LE(offset));
    mask.writeUInt32LE(keep >>> 0, offset);
    offset += 4;
    if (isCall && --calls === 0) break;
  }
  return { length: offset, mask };
}

export function matchesAt(signature: Signature, bytes: Buffer, offset: number): boolean {
  const { pattern, mask } = signature;
  if (offset < 0 || offset + pattern.length > bytes.length) return false;
  for (let i = 0; i < pattern.length; i++) if (((bytes[offset + i]! ^ pattern[i]!) & mask[i]!) !== 0) return false;
  return true;
}

/** The longest run of fully fixed bytes: searched with indexOf, then the whole signature is checked. */
function anchor(signature: Signature): { offset: number; bytes: Buffer } {
  let best = { offset: 0, length: 0 };
  let runStart = 0;
  for (let i = 0; i <= signature.mask.length; i++) {
    if (i === signature.mask.length || signature.mask[i] !== 0xff) {
      if (i - runStart > best.length) best = { offset: runStart, length: i - runStart };
      runStart = i + 1;
    }
  }
  return { offset: best.offset, bytes: signature.pattern.subarray(best.offset, best.offset + best.length) };
}

/** Every address in [start, end) where `signature` matches (at most `limit`, to stop early on an ambiguous one). */
export async function searchSignature(elf: ElfFile, signature: Signature, start: number, end: number, limit = 16): Promise<number[]> {
  const found: number[] = [];
  const { offset: anchorOffset, bytes: anchorBytes } = anchor(signature);
  if (anchorBytes.length < 4) return found;
  const overlap = signature.pattern.length;
  const step = signature.arch === 'arm64' ? 4 : 1;
  for (let chunkStart = start; chunkStart < end; chunkStart += SEARCH_CHUNK) {
    const chunkEnd = Math.min(end, chunkStart + SEARCH_CHUNK + overlap);
    const chunk = await readVaddr(elf, chunkStart, chunkEnd - chunkStart);
    for (let at = chunk.indexOf(anchorBytes); at >= 0; at = chunk.indexOf(anchorBytes, at + 1)) {
      const candidate = at - anchorOffset;
      const address = chunkStart + candidate;
      if (candidate < 0 || candidate >= SEARCH_CHUNK || (address - start) % step !== 0) continue;
      if (matchesAt(signature, chunk, candidate)) found.push(address);
      if (found.length >= limit) return found;
    }
  }
  return found;
}

export const signatureToJson = (s: Signature): { pattern: string; mask: string } => ({ pattern: s.pattern.toString('hex'), mask: s.mask.toString('hex') });
export const signatureFromJson = (arch: GoArch, json: { pattern: string; mask: string }): Signature => ({
  arch,
  pattern: Buffer.from(json.pattern, 'hex'),
  mask: Buffer.from(json.mask, 'hex'),
});
