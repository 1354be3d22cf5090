/**
 * HPACK Huffman decoding (RFC 7541 §5.2, Appendix B), table-driven: one lookup per input byte.
 *
 * The HPACK code is canonical, so the code lengths alone (in symbol order, EOS = 256 last) define it.
 * From them we build the decoding tree once, then a 256-state × 256-byte transition table: each input
 * byte moves from one internal tree node to another and emits at most two symbols (codes are ≥ 5 bits).
 */

// Code length of each symbol 0..256, from RFC 7541 Appendix B.
const CODE_LENGTHS: readonly number[] = [
  13, 23, 28, 28, 28, 28, 28, 28, 28, 24, 30, 28, 28, 30, 28, 28, // 0-15
  28, 28, 28, 28, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 28, // 16-31
  6, 10, 10, 12, 13, 6, 8, 11, 10, 10, 8, 11, 8, 6, 6, 6, // ' '..'/'
  5, 5, 5, 6, 6, 6, 6, 6, 6, 6, 7, 8, 15, 6, 12, 10, // '0'..'?'
  13, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, // '@'..'O'
  7, 7, 7, 7, 7, 7, 7, 7, 8, 7, 8, 13, 19, 13, 14, 6, // 'P'..'_'
  15, 5, 6, 5, 6, 5, 6, 6, 6, 5, 7, 7, 6, 6, 6, 5, // '`'..'o'
  6, 7, 6, 5, 5, 6, 7, 7, 7, 7, 7, 15, 11, 14, 13, 28, // 'p'..127
  20, 22, 20, 20, 22, 22, 22, 23, 22, 23, 23, 23, 23, 23, 24, 23, // 128-143
  24, 24, 22, 23, 24, 23, 23, 23, 23, 21, 22, 23, 22, 23, 23, 24, // 144-159
  22, 21, 20, 22, 22, 23, 23, 21, 23, 22, 22, 24, 21, 22, 23, 23, // 160-175
  21, 21, 22, 21, 23, 22, 23, 23, 20, 22, 22, 22, 23, 22, 22, 23, // 176-191
  26, 26, 20, 19, 22, 23, 22, 25, 26, 26, 26, 27, 27, 26, 24, 25, // 192-207
  19, 21, 26, 27, 27, 26, 27, 24, 21, 21, 26, 26, 28, 27, 27, 27, // 208-223
  20, 24, 20, 21, 22, 21, 21, 23, 22, 22, 25, 25, 24, 24, 26, 23, // 224-239
  26, 27, 26, 26, 27, 27, 27, 27, 27, 28, 27, 27, 27, 27, 27, 26, // 240-255
  30, // EOS
];
const EOS = 256;

export class HuffmanError extends Error {}

/** Canonical codes from lengths: shorter codes first, equal lengths in symbol order. */
export function canonicalCodes(lengths: readonly number[]): number[] {
  const order = lengths.map((len, sym) => ({ len, sym })).sort((a, b) => a.len - b.len || a.sym - b.sym);
  const codes = new Array<number>(lengths.length);
  let code = 0;
  let prevLen = order[0]!.len;
  for (const { len, sym } of order) {
    code *= 2 ** (len - prevLen);
    prevLen = len;
    codes[sym] = code;
    code += 1;
  }
  return codes;
}

export const HUFFMAN_CODES: readonly number[] = canonicalCodes(CODE_LENGTHS);
export const HUFFMAN_LENGTHS = CODE_LENGTHS;

// Transition entry layout (Int32): bits 0-7 next state, 8-9 symbol count, 10-17 first symbol,
// 18-25 second symbol, bit 26 set when the byte decodes EOS (a decoding error).
const FAIL_BIT = 1 << 26;

interface DecodingTables {
  /** 256 entries per state; a state's row is filled when decoding first reaches the state (see fillRow). */
  transitions: Int32Array;
  rowFilled: Uint8Array;
  /** Per state and 4-bit nibble: the state after it, and the symbol it completes (-1: none). */
  nibbleNext: Uint8Array;
  nibbleSymbol: Int16Array;
  /** Whether input may end in this state: the root, or ≤ 7 bits of the all-ones EOS prefix. */
  acceptsEnd: Uint8Array;
}

function buildTables(): DecodingTables {
  // Tree of internal nodes: children[node*2 + bit] = internal node index, or ~symbol for a leaf.
  const children: number[] = [0, 0];
  const nodeDepth: number[] = [0];
  const nodeAllOnes: boolean[] = [true];
  let nodes = 1;
  for (let sym = 0; sym <= EOS; sym++) {
    const len = CODE_LENGTHS[sym]!;
    const code = HUFFMAN_CODES[sym]!;
    let node = 0;
    for (let i = len - 1; i >= 0; i--) {
      const bit = Math.floor(code / 2 ** i) & 1;
      const slot = node * 2 + bit;
      if (i === 0) {
        children[slot] = ~sym;
      } else {
        if (children[slot] === 0) {
          children[slot] = nodes;
          children.push(0, 0);
          nodeDepth.push(nodeDepth[node]! + 1);
          nodeAllOnes.push(nodeAllOnes[node]! && bit === 1);
          nodes += 1;
        }
        node = children[slot]!;
      }
    }
  }
  // What each 4-bit nibble does from each state (at most one symbol: codes are ≥ 5 bits); bytes are two nibbles.
  const nibbleNext = new Uint8Array(nodes * 16);
  const nibbleSymbol = new Int16Array(nodes * 16).fill(-1);
  for (let state = 0; state < nodes; state++) {
    for (let nibble = 0; nibble < 16; nibble++) {
      let node = state;
      for (let b = 3; b >= 0; b--) {
        const child = children[node * 2 + ((nibble >> b) & 1)]!;
        if (child > 0) {
          node = child;
          continue;
        }
        nibbleSymbol[state * 16 + nibble] = ~child;
        node = 0;
      }
      nibbleNext[state * 16 + nibble] = node;
    }
  }
  const acceptsEnd = new Uint8Array(nodes);
  for (let state = 0; state < nodes; state++) acceptsEnd[state] = state === 0 || (nodeAllOnes[state]! && nodeDepth[state]! <= 7) ? 1 : 0;
  return { transitions: new Int32Array(nodes * 256), rowFilled: new Uint8Array(nodes), nibbleNext, nibbleSymbol, acceptsEnd };
}

/**
 * Fills the transitions of one state: each byte as two nibbles. Row by row on demand, because all 65,536
 * entries at once took 25–45 ms of every run's startup (run once, the code is not optimised yet), and
 * header text reaches a fraction of the states.
 */
function fillRow(t: DecodingTables, state: number): void {
  for (let byte = 0; byte < 256; byte++) {
    const high = state * 16 + (byte >> 4);
    const low = t.nibbleNext[high]! * 16 + (byte & 15);
    const first = t.nibbleSymbol[high]!;
    const second = t.nibbleSymbol[low]!;
    const count = (first < 0 ? 0 : 1) + (second < 0 ? 0 : 1);
    const symbols = first < 0 ? symbolBits(second, 10) : symbolBits(first, 10) | symbolBits(second, 18);
    t.transitions[state * 256 + byte] = symbols | t.nibbleNext[low]! | (count << 8);
  }
  t.rowFilled[state] = 1;
}

/** A symbol's place in a transition entry (none for -1; EOS is the failure bit). */
function symbolBits(sym: number, shift: number): number {
  if (sym < 0) return 0;
  return sym === EOS ? FAIL_BIT : sym << shift;
}

const tables = buildTables();
let scratch = Buffer.allocUnsafe(4096);

/** Decode Huffman-coded bytes [start, end) of `buf` to a latin1 string (one char per octet). */
export function decodeHuffman(buf: Uint8Array, start: number, end: number): string {
  // Each input byte yields at most 2 symbols; 8 bits hold at most 1.6 of the shortest (5-bit) codes.
  const maxOut = (end - start) * 2;
  if (scratch.length < maxOut) scratch = Buffer.allocUnsafe(maxOut);
  const out = scratch;
  const { transitions, rowFilled } = tables;
  let state = 0;
  let n = 0;
  for (let i = start; i < end; i++) {
    if (rowFilled[state] === 0) fillRow(tables, state);
    const entry = transitions[(state << 8) | buf[i]!]!;
    if (entry & FAIL_BIT) throw new HuffmanError('Huffman string contains EOS');
    const count = (entry >> 8) & 3;
    if (count > 0) {
      out[n++] = (entry >> 10) & 0xff;
      if (count > 1) out[n++] = (entry >> 18) & 0xff;
    }
    state = entry & 0xff;
  }
  if (!tables.acceptsEnd[state]) throw new HuffmanError('Huffman string has invalid padding');
  return out.toString('latin1', 0, n);
}
