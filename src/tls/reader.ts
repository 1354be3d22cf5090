/** Thrown by ByteReader past its bounds; parsers catch it and report malformed input. */
export class Truncated extends Error {}

/** Bounds-checked big-endian reads over a byte range, with TLS length-prefixed vectors. */
export class ByteReader {
  readonly #bytes: Uint8Array;
  #at: number;
  readonly #end: number;
  constructor(
    bytes: Uint8Array,
    at = 0,
    end = bytes.length,
  ) {
    this.#bytes = bytes;
    this.#at = at;
    this.#end = end;
  }

  get remaining(): number {
    return this.#end - this.#at;
  }

  u8(): number {
    this.#need(1);
    return this.#bytes[this.#at++]!;
  }

  u16(): number {
    this.#need(2);
    const v = (this.#bytes[this.#at]! << 8) | this.#bytes[this.#at + 1]!;
    this.#at += 2;
    return v;
  }

  u24(): number {
    this.#need(3);
    const v = (this.#bytes[this.#at]! << 16) | (this.#bytes[this.#at + 1]! << 8) | this.#bytes[this.#at + 2]!;
    this.#at += 3;
    return v;
  }

  /** The next `n` bytes, as a view. */
  take(n: number): Uint8Array {
    this.#need(n);
    const v = this.#bytes.subarray(this.#at, this.#at + n);
    this.#at += n;
    return v;
  }

  /** A vector with a `lengthBytes`-byte length prefix, as a reader over its contents. */
  vector(lengthBytes: 1 | 2 | 3): ByteReader {
    const n = lengthBytes === 1 ? this.u8() : lengthBytes === 2 ? this.u16() : this.u24();
    this.#need(n);
    const inner = new ByteReader(this.#bytes, this.#at, this.#at + n);
    this.#at += n;
    return inner;
  }

  /** The rest of this reader's range, as a view. */
  rest(): Uint8Array {
    return this.take(this.remaining);
  }

  #need(n: number): void {
    if (n < 0 || this.#at + n > this.#end) throw new Truncated('truncated');
  }
}
