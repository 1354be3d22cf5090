/**
 * TLS 1.3 AES-GCM records opened many at a time, authenticated as strictly as one by one.
 *
 * Why: Node opens an AEAD record only through a decipher object made for it (createDecipheriv, setAAD,
 * setAuthTag, update, final), about 5 µs per record whatever its size, while Go's HTTP/2 sends mostly
 * records of a few hundred bytes (83k of the 100k records of bench:analyze). Here a batch of one
 * direction's consecutive records costs three OpenSSL calls in all:
 *
 * - the keystream: AES-ECB (one cipher object per key, kept) over the counter blocks of every record,
 *   J0 = nonce ‖ 1 and then nonce ‖ 2, 3, … (GCM's CTR, SP 800-38D §7.2), XORed with the ciphertext here;
 * - the tags: GHASH is linear. For each record the blocks GCM hashes, A* ‖ C* ‖ len(A) ‖ len(C), are
 *   followed by one more block W = tag ⊕ E(K, J0); GHASH over that sequence is (S ⊕ W)·H, where S is the
 *   record's GHASH value, so it is zero exactly when the record's tag verifies (S = tag ⊕ E(K, J0)). Over
 *   all records of the batch one after another, GHASH is Σ (Sᵢ ⊕ Wᵢ)·H^kᵢ: zero when every tag verifies,
 *   and, for any record that does not, zero only with the probability that a forged GCM tag verifies
 *   (H = E(K, 0¹²⁸) is unknown without the key). OpenSSL computes that GHASH as the tag of an AES-GCM
 *   encryption whose additional data is the sequence (E(K, J0') ⊕ GHASH(Z ‖ len(Z))); the same encryption
 *   over as many zero bytes gives E(K, J0') ⊕ GHASH(0… ‖ len(Z)), so the two tags are equal exactly when
 *   GHASH(Z) = 0.
 *
 * A batch that does not verify opens nothing: its records are then opened one by one as before, which names
 * the failing record exactly as it always did. Long records are left out (one decipher each costs little
 * beside their bytes, and the keystream XOR here is slower per byte than OpenSSL's).
 */
import { createCipheriv, type Cipher, type CipherGCMTypes } from 'node:crypto';
import type { OpenedRecord } from './protection.js';

/** Records whose ciphertext is longer than this are opened one by one. */
const MAX_BATCHED_CIPHERTEXT = 4096;
/** The longest record body a batch takes (ciphertext and tag). */
export const MAX_BATCHED_BODY = MAX_BATCHED_CIPHERTEXT + 16;
/** A batch of fewer records than this costs more than opening them one by one. */
const MIN_BATCH = 3;
const TAG = 16;
const HEADER = 5;
const BLOCK = 16;
const MAX_BLOCKS = Math.ceil(MAX_BATCHED_CIPHERTEXT / BLOCK) + 1;
/** The last word of counter block b, b + 1 big-endian (J0's 1, then 2, 3, …), as a native-order Uint32Array word. */
const COUNTER_WORDS = counterWords(MAX_BLOCKS);
const ZERO_IV = Buffer.alloc(12);
/** Zero bytes as additional data, for the reference tag; grown as needed and shared. */
let zeros = Buffer.alloc(0);
/**
 * The GHASH input and counter blocks of the last batch, for the next one: both are needed only while a batch
 * opens (what it hands out views the keystream, a fresh buffer), and a fresh large buffer costs microseconds.
 */
let spareInput: Buffer | null = null;
let spareCounters: Buffer | null = null;

/** Records opened ahead of their turn, by sequence number; each is handed out once, to the same record. */
export class OpenedAhead {
  readonly #from: number;
  readonly #opened: (OpenedRecord | undefined)[];
  /** Each batched record's length and tag: the record opened at its turn must be the one opened here. */
  readonly #lengths: number[];
  readonly #tags: Buffer;

  constructor(from: number, opened: (OpenedRecord | undefined)[], lengths: number[], tags: Buffer) {
    this.#from = from;
    this.#opened = opened;
    this.#lengths = lengths;
    this.#tags = tags;
  }

  /** The record of sequence number `seq` with this body, if it was opened here. */
  take(seq: number, body: Uint8Array): OpenedRecord | undefined {
    const i = seq - this.#from;
    const opened = this.#opened[i];
    if (opened === undefined || this.#lengths[i] !== body.length) return undefined;
    this.#opened[i] = undefined;
    const tags = this.#tags;
    const tagAt = i * TAG;
    const bodyTag = body.length - TAG;
    for (let b = 0; b < TAG; b++) if (tags[tagAt + b] !== body[bodyTag + b]) return undefined;
    return opened;
  }

  /** Whether records from `seq` on may still be handed out. */
  covers(seq: number): boolean {
    return seq - this.#from < this.#opened.length;
  }
}

/**
 * The records that follow one another in one direction under one TLS 1.3 AES-GCM key, from sequence number
 * `from`: `add` them in order (each is copied in at once), then `open`.
 */
export class RecordBatch {
  readonly #cipher: CipherGCMTypes;
  readonly #key: Buffer;
  readonly #iv: Buffer;
  readonly #ecb: Cipher;
  readonly #from: number;
  /** GHASH input being built: per batched record A* ‖ C* ‖ lengths ‖ W (W holds the tag until `open`). */
  #z: Buffer = takeSpare(spareInput, 32 * 1024, (b) => (spareInput = b));
  #used = 0;
  /** Per record added: where its blocks start in #z (-1: not batched), its ciphertext length. */
  readonly #at: number[] = [];
  readonly #length: number[] = [];
  readonly #bodyLength: number[] = [];
  #batched = 0;

  constructor(cipher: CipherGCMTypes, key: Buffer, iv: Buffer, ecb: Cipher, from: number) {
    this.#cipher = cipher;
    this.#key = key;
    this.#iv = iv;
    this.#ecb = ecb;
    this.#from = from;
  }

  /**
   * The next record: its header at `at` in `bytes`, then its body of `bodyLength` bytes, which need be there only
   * when it is at most MAX_BATCHED_BODY long (valid during the call only: it is copied).
   */
  add(bytes: Uint8Array, at: number, bodyLength: number): void {
    const n = bodyLength - TAG;
    this.#bodyLength.push(bodyLength);
    if (n < 1 || n > MAX_BATCHED_CIPHERTEXT) {
      this.#at.push(-1);
      this.#length.push(0);
      return;
    }
    const padded = (n + BLOCK - 1) & ~(BLOCK - 1);
    const size = BLOCK + padded + 2 * BLOCK;
    if (this.#used + size > this.#z.length) {
      const grown = Buffer.allocUnsafeSlow(Math.max(2 * this.#z.length, this.#used + size));
      this.#z.copy(grown, 0, 0, this.#used);
      this.#z = grown;
    }
    const z = this.#z;
    const from = at;
    at = this.#used;
    // A* (the header, the AAD, zero-padded), C* (zero-padded), the lengths block, W (the tag for now). Small
    // ranges are written byte by byte: Buffer's fill/copy cost more per call than these bytes.
    for (let i = 0; i < HEADER; i++) z[at + i] = bytes[from + i]!;
    for (let i = HEADER; i < BLOCK; i++) z[at + i] = 0;
    copyBytes(bytes, from + HEADER, n, z, at + BLOCK);
    const lengths = at + BLOCK + padded;
    const w = lengths + BLOCK;
    for (let i = 0; i < TAG; i++) z[w + i] = bytes[from + HEADER + n + i]!;
    for (let i = at + BLOCK + n; i < w; i++) z[i] = 0;
    z[lengths + 7] = HEADER * 8;
    const bits = n * 8;
    z[lengths + 13] = bits >>> 16;
    z[lengths + 14] = bits >>> 8;
    z[lengths + 15] = bits;
    this.#at.push(at);
    this.#length.push(n);
    this.#used += size;
    this.#batched += 1;
  }

  /** Opens every batched record, or none (null) when the batch does not verify or is too small to pay. */
  open(): OpenedAhead | null {
    try {
      return this.#open();
    } finally {
      if (this.#z.length > (spareInput?.length ?? 0)) spareInput = this.#z;
    }
  }

  #open(): OpenedAhead | null {
    if (this.#batched < MIN_BATCH) return null;
    const z = this.#z;
    const count = this.#at.length;
    // Counter blocks of every batched record: J0, then one per ciphertext block.
    let blocks = 0;
    for (let i = 0; i < count; i++) if (this.#at[i]! >= 0) blocks += 1 + ((this.#length[i]! + BLOCK - 1) >> 4);
    const counters = takeSpare(spareCounters, blocks * BLOCK, (b) => (spareCounters = b)).subarray(0, blocks * BLOCK);
    const words = new Uint32Array(counters.buffer, counters.byteOffset, counters.length >> 2);
    const nonce = new Uint32Array(3);
    const nonceBytes = new Uint8Array(nonce.buffer);
    const iv = Uint8Array.from(this.#iv);
    const tags = Buffer.allocUnsafe(count * TAG);
    let c = 0;
    for (let i = 0; i < count; i++) {
      const at = this.#at[i]!;
      if (at < 0) continue;
      const recordBlocks = 1 + ((this.#length[i]! + BLOCK - 1) >> 4);
      // nonce = iv XOR the 64-bit sequence number in its last 8 bytes (RFC 8446 §5.3), in native word order.
      const seq = this.#from + i;
      nonceBytes.set(iv);
      const high = Math.floor(seq / 0x1_0000_0000);
      nonceBytes[4]! ^= high >>> 24;
      nonceBytes[5]! ^= high >>> 16;
      nonceBytes[6]! ^= high >>> 8;
      nonceBytes[7]! ^= high;
      nonceBytes[8]! ^= seq >>> 24;
      nonceBytes[9]! ^= seq >>> 16;
      nonceBytes[10]! ^= seq >>> 8;
      nonceBytes[11]! ^= seq;
      const n0 = nonce[0]!;
      const n1 = nonce[1]!;
      const n2 = nonce[2]!;
      for (let j = c >> 2, b = 0; b < recordBlocks; j += 4, b++) {
        words[j] = n0;
        words[j + 1] = n1;
        words[j + 2] = n2;
        words[j + 3] = COUNTER_WORDS[b]!;
      }
      c += recordBlocks * BLOCK;
    }
    let keystream = this.#ecb.update(counters);
    if (counters.buffer.byteLength >= (spareCounters?.length ?? 0)) spareCounters = Buffer.from(counters.buffer);
    if (keystream.length !== counters.length) return null;
    if (keystream.byteOffset % 4 !== 0) keystream = Buffer.from(Uint8Array.prototype.slice.call(keystream).buffer);
    // W = tag XOR E(K, J0), keeping the tag to match the record at its turn.
    c = 0;
    for (let i = 0; i < count; i++) {
      const at = this.#at[i]!;
      if (at < 0) continue;
      const padded = (this.#length[i]! + BLOCK - 1) & ~(BLOCK - 1);
      const w = at + BLOCK + padded + BLOCK;
      for (let b = 0; b < BLOCK; b++) {
        tags[i * TAG + b] = z[w + b]!;
        z[w + b]! ^= keystream[c + b]!;
      }
      c += BLOCK + padded;
    }
    const hashed = z.subarray(0, this.#used);
    if (zeros.length < hashed.length) zeros = Buffer.alloc(Math.max(hashed.length, 2 * zeros.length));
    if (!ghashTag(this.#cipher, this.#key, hashed).equals(ghashTag(this.#cipher, this.#key, zeros.subarray(0, hashed.length)))) return null;

    const ks = new Int32Array(keystream.buffer, keystream.byteOffset, keystream.length >> 2);
    const ct = new Int32Array(z.buffer, z.byteOffset, this.#used >> 2);
    const opened: (OpenedRecord | undefined)[] = new Array(count);
    c = 0;
    for (let i = 0; i < count; i++) {
      const at = this.#at[i]!;
      if (at < 0) continue;
      const n = this.#length[i]!;
      const padded = (n + BLOCK - 1) & ~(BLOCK - 1);
      const data = c + BLOCK;
      for (let k = data >> 2, from = (at + BLOCK) >> 2, end = k + (padded >> 2); k < end; k++, from++) ks[k]! ^= ct[from]!;
      c = data + padded;
      // TLSInnerPlaintext: content, the real content type, zero padding.
      let end = data + n - 1;
      while (end >= data && keystream[end] === 0) end--;
      if (end < data) continue; // no content type: opened one by one, which refuses it
      opened[i] = { type: keystream[end]!, plaintext: keystream.subarray(data, end) };
    }
    return new OpenedAhead(this.#from, opened, this.#bodyLength, tags);
  }
}

/** The spare buffer when it holds `size` bytes (it is taken: `take(null)`), else a new one of at least `size`. */
function takeSpare(spare: Buffer | null, size: number, take: (b: Buffer | null) => void): Buffer {
  if (spare && spare.length >= size) {
    take(null);
    return spare;
  }
  return Buffer.allocUnsafeSlow(Math.max(size, spare?.length ?? 0));
}

/** Copies `length` bytes from `source` at `from` into `target` at `to`, without making a view. */
function copyBytes(source: Uint8Array, from: number, length: number, target: Buffer, to: number): void {
  if (length > 64) target.set(source.subarray(from, from + length), to);
  else for (let i = 0; i < length; i++) target[to + i] = source[from + i]!;
}

/** The tag of an AES-GCM encryption of nothing with `aad` as additional data, under the all-zero IV. */
function ghashTag(cipher: CipherGCMTypes, key: Buffer, aad: Uint8Array): Buffer {
  const gcm = createCipheriv(cipher, key, ZERO_IV);
  gcm.setAAD(aad);
  gcm.final();
  return gcm.getAuthTag();
}

function counterWords(blocks: number): Uint32Array {
  const words = new Uint32Array(blocks);
  const view = new DataView(words.buffer);
  for (let b = 0; b < blocks; b++) view.setUint32(4 * b, b + 1, false);
  return words;
}
