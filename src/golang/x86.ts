/**
 * Just enough x86-64 decoding to cut a function into instructions and find the bytes that change between
 * builds: branch displacements, and memory displacements (RIP-relative addresses, struct and stack offsets).
 * Covers what the Go compiler emits for ordinary functions; anything else ends decoding (undefined).
 */
export interface X86Instruction {
  length: number;
  /** Byte ranges [start, end) inside the instruction that vary with layout. */
  variable: [number, number][];
  /** A direct near call (E8 rel32). */
  isCall: boolean;
}

const LEGACY_PREFIXES = new Set([0x66, 0x67, 0xf0, 0xf2, 0xf3, 0x2e, 0x36, 0x3e, 0x26, 0x64, 0x65]);

/** One-byte opcodes with a ModRM byte, and their immediate size. */
function oneByte(op: number, rexW: boolean, modrmReg: () => number): { modrm: boolean; imm: number; rel: number } | undefined {
  if (op < 0x40 && (op & 7) < 6) {
    if ((op & 7) < 4) return { modrm: true, imm: 0, rel: 0 };
    return { modrm: false, imm: (op & 7) === 4 ? 1 : 4, rel: 0 };
  }
  if (op >= 0x50 && op <= 0x5f) return { modrm: false, imm: 0, rel: 0 };
  if (op === 0x63) return { modrm: true, imm: 0, rel: 0 };
  if (op === 0x68) return { modrm: false, imm: 4, rel: 0 };
  if (op === 0x69) return { modrm: true, imm: 4, rel: 0 };
  if (op === 0x6a) return { modrm: false, imm: 1, rel: 0 };
  if (op === 0x6b) return { modrm: true, imm: 1, rel: 0 };
  if (op >= 0x70 && op <= 0x7f) return { modrm: false, imm: 0, rel: 1 };
  if (op === 0x80 || op === 0x83 || op === 0xc0 || op === 0xc1 || op === 0xc6) return { modrm: true, imm: 1, rel: 0 };
  if (op === 0x81 || op === 0xc7) return { modrm: true, imm: 4, rel: 0 };
  if (op >= 0x84 && op <= 0x8f) return { modrm: true, imm: 0, rel: 0 };
  if ((op >= 0x90 && op <= 0x99) || op === 0x9c || op === 0x9d || op === 0xc3 || op === 0xcc || op === 0xc9) return { modrm: false, imm: 0, rel: 0 };
  if (op === 0xa8) return { modrm: false, imm: 1, rel: 0 };
  if (op === 0xa9) return { modrm: false, imm: 4, rel: 0 };
  if (op >= 0xb0 && op <= 0xb7) return { modrm: false, imm: 1, rel: 0 };
  if (op >= 0xb8 && op <= 0xbf) return { modrm: false, imm: rexW ? 8 : 4, rel: 0 };
  if (op === 0xc2) return { modrm: false, imm: 2, rel: 0 };
  if (op >= 0xd0 && op <= 0xd3) return { modrm: true, imm: 0, rel: 0 };
  if (op === 0xe8 || op === 0xe9) return { modrm: false, imm: 0, rel: 4 };
  if (op === 0xeb) return { modrm: false, imm: 0, rel: 1 };
  if (op === 0xf6 || op === 0xf7) return { modrm: true, imm: modrmReg() <= 1 ? (op === 0xf6 ? 1 : 4) : 0, rel: 0 };
  if (op === 0xfe || op === 0xff) return { modrm: true, imm: 0, rel: 0 };
  return undefined;
}

/** Two-byte (0F xx) opcodes. */
function twoByte(op: number): { modrm: boolean; imm: number; rel: number } | undefined {
  if (op === 0x05 || op === 0x0b || op === 0x31 || op === 0xa2) return { modrm: false, imm: 0, rel: 0 };
  if (op >= 0x80 && op <= 0x8f) return { modrm: false, imm: 0, rel: 4 };
  if (op >= 0xc8 && op <= 0xcf) return { modrm: false, imm: 0, rel: 0 };
  if ((op >= 0x70 && op <= 0x73) || op === 0xa4 || op === 0xac || op === 0xba || op === 0xc2 || (op >= 0xc4 && op <= 0xc6)) return { modrm: true, imm: 1, rel: 0 };
  if (
    (op >= 0x10 && op <= 0x1f) || (op >= 0x28 && op <= 0x2f) || (op >= 0x40 && op <= 0x6f) || (op >= 0x74 && op <= 0x7f) ||
    (op >= 0x90 && op <= 0x9f) || op === 0xa3 || op === 0xab || op === 0xaf || op === 0xb0 || op === 0xb1 || op === 0xb3 ||
    (op >= 0xb6 && op <= 0xbf) || op === 0xc0 || op === 0xc1 || op === 0xc7 || op >= 0xd0
  ) {
    return { modrm: true, imm: 0, rel: 0 };
  }
  return undefined;
}

export function decodeX86(bytes: Uint8Array, start: number): X86Instruction | undefined {
  let i = start;
  const at = (k: number): number | undefined => (k < bytes.length ? bytes[k] : undefined);
  while (at(i) !== undefined && LEGACY_PREFIXES.has(at(i)!)) i++;
  let rexW = false;
  if (at(i) !== undefined && (at(i)! & 0xf0) === 0x40) {
    rexW = (at(i)! & 8) !== 0;
    i++;
  }
  const op = at(i++);
  if (op === undefined) return undefined;
  let form: { modrm: boolean; imm: number; rel: number } | undefined;
  if (op === 0x0f) {
    const op2 = at(i++);
    if (op2 === undefined) return undefined;
    if (op2 === 0x38 || op2 === 0x3a) {
      if (at(i++) === undefined) return undefined;
      form = { modrm: true, imm: op2 === 0x3a ? 1 : 0, rel: 0 };
    } else {
      form = twoByte(op2);
    }
  } else {
    form = oneByte(op, rexW, () => ((at(i) ?? 0) >> 3) & 7);
  }
  if (!form) return undefined;
  const variable: [number, number][] = [];
  if (form.modrm) {
    const modrm = at(i++);
    if (modrm === undefined) return undefined;
    const mod = modrm >> 6;
    const rm = modrm & 7;
    let disp = mod === 1 ? 1 : mod === 2 ? 4 : 0;
    if (mod !== 3 && rm === 4) {
      const sib = at(i++);
      if (sib === undefined) return undefined;
      if (mod === 0 && (sib & 7) === 5) disp = 4;
    }
    if (mod === 0 && rm === 5) disp = 4; // RIP-relative
    if (disp) variable.push([i - start, i - start + disp]);
    i += disp;
  }
  i += form.imm;
  if (form.rel) variable.push([i - start, i - start + form.rel]);
  i += form.rel;
  if (i > bytes.length) return undefined;
  return { length: i - start, variable, isCall: op === 0xe8 };
}
