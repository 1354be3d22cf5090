/**
 * HPACK header block decoder (RFC 7541): static table, dynamic table with size updates and eviction,
 * Huffman strings. One decoder per direction of a connection, fed header blocks in order.
 * Strings are latin1 so that a string's length is its size in octets, as the table accounting needs.
 *
 * Joined mid-stream (`joinMidStream()`), the dynamic table's content and size limit are unknown. What is
 * known exactly: HPACK index 62 + i is the i-th newest entry the encoder inserted — eviction drops the
 * oldest entries and never reorders, and an encoder only refers to entries still in its table. So the
 * decoder keeps the insertions it saw since the join, newest first; an index beyond them refers to the
 * unseen part and its field is reported as unknown (counted, never guessed). A literal whose name comes
 * from the unseen part is unknown too, and so is the entry it inserts.
 */
import { decodeHuffman, HuffmanError } from './huffman.js';

export type HeaderField = [name: string, value: string];

export class HpackError extends Error {}

/**
 * The most a decoded header list may take (RFC 7541 §4.1 sizes: name + value + 32 per field). Go clients accept
 * 10 MB of response headers; past this bound a block is hostile (one indexed byte can repeat a 4 KiB entry).
 */
export const MAX_HEADER_LIST_BYTES = 16 << 20;

export class HeaderListTooLarge extends HpackError {}

const STATIC_TABLE: readonly HeaderField[] = [
  [':authority', ''], [':method', 'GET'], [':method', 'POST'], [':path', '/'], [':path', '/index.html'],
  [':scheme', 'http'], [':scheme', 'https'], [':status', '200'], [':status', '204'], [':status', '206'],
  [':status', '304'], [':status', '400'], [':status', '404'], [':status', '500'], ['accept-charset', ''],
  ['accept-encoding', 'gzip, deflate'], ['accept-language', ''], ['accept-ranges', ''], ['accept', ''],
  ['access-control-allow-origin', ''], ['age', ''], ['allow', ''], ['authorization', ''], ['cache-control', ''],
  ['content-disposition', ''], ['content-encoding', ''], ['content-language', ''], ['content-length', ''],
  ['content-location', ''], ['content-range', ''], ['content-type', ''], ['cookie', ''], ['date', ''],
  ['etag', ''], ['expect', ''], ['expires', ''], ['from', ''], ['host', ''], ['if-match', ''],
  ['if-modified-since', ''], ['if-none-match', ''], ['if-range', ''], ['if-unmodified-since', ''],
  ['last-modified', ''], ['link', ''], ['location', ''], ['max-forwards', ''], ['proxy-authenticate', ''],
  ['proxy-authorization', ''], ['range', ''], ['referer', ''], ['refresh', ''], ['retry-after', ''],
  ['server', ''], ['set-cookie', ''], ['strict-transport-security', ''], ['transfer-encoding', ''],
  ['user-agent', ''], ['vary', ''], ['via', ''], ['www-authenticate', ''],
];

/** RFC 7541 §4.1: an entry's size is its name and value octets plus 32. */
const entrySize = (f: HeaderField): number => f[0].length + f[1].length + 32;

/** The dynamic table, newest entry first (index 0 = HPACK index 62). */
export class DynamicTable {
  #entries: HeaderField[] = [];
  #size = 0;
  #maxSize: number;
  constructor(maxSize: number) {
    this.#maxSize = maxSize;
  }

  get length(): number {
    return this.#entries.length;
  }
  get currentSize(): number {
    return this.#size;
  }
  get capacity(): number {
    return this.#maxSize;
  }
  at(i: number): HeaderField | undefined {
    return this.#entries[i];
  }
  setMaxSize(max: number): void {
    this.#maxSize = max;
    this.#evict(0);
  }
  add(field: HeaderField): void {
    const size = entrySize(field);
    // An entry larger than the table empties it and is not added (§4.4).
    this.#evict(size);
    if (size <= this.#maxSize) {
      this.#entries.unshift(field);
      this.#size += size;
    }
  }
  #evict(room: number): void {
    while (this.#entries.length > 0 && this.#size + room > this.#maxSize) {
      this.#size -= entrySize(this.#entries.pop()!);
    }
  }
}

/** A field as decoded, null where it comes from the part of the dynamic table never seen (mid-stream). */
type PartialField = [name: string | null, value: string | null];

/** Insertions remembered after a mid-stream join, by their octets (the table limit itself is unknown). */
const MAX_JOINED_TABLE_OCTETS = 1 << 16;

/** The entries inserted since a mid-stream join, newest first: HPACK index 62 + i is `at(i)` if i < length. */
class JoinedTable {
  #entries: PartialField[] = [];
  #octets = 0;
  at(i: number): PartialField | undefined {
    return this.#entries[i];
  }
  add(field: PartialField): void {
    this.#entries.unshift(field);
    this.#octets += partialSize(field);
    // Older entries than this many octets cannot be in any table a peer allows: dropping them only makes
    // later references to them unknown.
    while (this.#octets > MAX_JOINED_TABLE_OCTETS) this.#octets -= partialSize(this.#entries.pop()!);
  }
}

const partialSize = (f: PartialField): number => (f[0]?.length ?? 0) + (f[1]?.length ?? 0) + 32;

export interface DecodedBlock {
  fields: HeaderField[];
  /** Fields left out because they refer to the unseen part of the dynamic table (mid-stream only). */
  unknown: number;
}

export class HpackDecoder {
  readonly table: DynamicTable;
  /** Upper bound for table size updates: the SETTINGS_HEADER_TABLE_SIZE the receiving side advertised. */
  maxAllowedTableSize: number;
  /** Set while the table holds entries from before a mid-stream join. */
  #joined: JoinedTable | null = null;

  constructor(maxTableSize = 4096) {
    this.table = new DynamicTable(maxTableSize);
    this.maxAllowedTableSize = maxTableSize;
  }

  /**
   * The header blocks before this one were not seen (a capture joined mid-stream, or a block was
   * skipped): every dynamic table entry inserted so far is unknown from now on.
   */
  joinMidStream(): void {
    this.#joined = new JoinedTable();
    // The SETTINGS that bound the table were not seen either.
    this.maxAllowedTableSize = Math.max(this.maxAllowedTableSize, MAX_JOINED_TABLE_OCTETS);
  }

  /** Decode one complete header block; throws HpackError on malformed input. */
  decode(block: Uint8Array): HeaderField[] {
    return this.decodeBlock(block).fields;
  }

  /** Decode one complete header block, counting the fields that refer to unseen table entries. */
  decodeBlock(block: Uint8Array): DecodedBlock {
    const fields: HeaderField[] = [];
    let unknown = 0;
    let listBytes = 0;
    const emit = (f: PartialField): void => {
      if (f[0] === null || f[1] === null) unknown += 1;
      else {
        listBytes += f[0].length + f[1].length + 32;
        if (listBytes > MAX_HEADER_LIST_BYTES) throw new HeaderListTooLarge(`header list over ${MAX_HEADER_LIST_BYTES >> 20} MiB`);
        fields.push(f as HeaderField);
      }
    };
    const cursor = { pos: 0 };
    let fieldSeen = false;
    try {
      while (cursor.pos < block.length) {
        const b = block[cursor.pos]!;
        if (b & 0x80) {
          emit(this.#lookup(readInteger(block, cursor, 7)));
        } else if (b & 0x40) {
          const field = this.#readLiteral(block, cursor, 6);
          if (this.#joined) this.#joined.add(field);
          else this.table.add(field as HeaderField);
          emit(field);
        } else if (b & 0x20) {
          // Size updates must come first in a block (§4.2).
          if (fieldSeen) throw new HpackError('dynamic table size update after a header field');
          const size = readInteger(block, cursor, 5);
          if (size > this.maxAllowedTableSize) throw new HpackError(`dynamic table size update ${size} above the limit ${this.maxAllowedTableSize}`);
          // Below one entry's overhead the table is certainly empty: known again from here on. Otherwise a
          // joined table stays as it is (positions of the entries seen do not change).
          if (this.#joined && size < 32) this.#joined = null;
          if (!this.#joined) this.table.setMaxSize(size);
          continue;
        } else {
          // Literal without indexing (0000) or never indexed (0001): same layout, 4-bit prefix.
          emit(this.#readLiteral(block, cursor, 4));
        }
        fieldSeen = true;
      }
    } catch (err) {
      if (err instanceof HuffmanError) throw new HpackError(err.message);
      throw err;
    }
    return { fields, unknown };
  }

  #lookup(index: number): PartialField {
    if (index === 0) throw new HpackError('header index 0');
    if (index <= STATIC_TABLE.length) return STATIC_TABLE[index - 1]!;
    const i = index - STATIC_TABLE.length - 1;
    if (this.#joined) return this.#joined.at(i) ?? [null, null];
    const field = this.table.at(i);
    if (!field) throw new HpackError(`header index ${index} beyond the dynamic table`);
    return field;
  }

  #readLiteral(block: Uint8Array, cursor: { pos: number }, prefixBits: number): PartialField {
    const nameIndex = readInteger(block, cursor, prefixBits);
    const name = nameIndex === 0 ? readString(block, cursor) : this.#lookup(nameIndex)[0];
    return [name, readString(block, cursor)];
  }
}

/** Prefix-coded integer (§5.1), bounded to 2^28 so garbage cannot produce absurd values. */
export function readInteger(buf: Uint8Array, cursor: { pos: number }, prefixBits: number): number {
  if (cursor.pos >= buf.length) throw new HpackError('header block ends inside an integer');
  const max = (1 << prefixBits) - 1;
  let value = buf[cursor.pos++]! & max;
  if (value < max) return value;
  let shift = 0;
  for (;;) {
    if (cursor.pos >= buf.length) throw new HpackError('header block ends inside an integer');
    const b = buf[cursor.pos++]!;
    value += (b & 0x7f) * 2 ** shift;
    shift += 7;
    if ((b & 0x80) === 0) return value;
    if (shift > 28) throw new HpackError('HPACK integer too large');
  }
}

function readString(buf: Uint8Array, cursor: { pos: number }): string {
  if (cursor.pos >= buf.length) throw new HpackError('header block ends before a string');
  const huffman = (buf[cursor.pos]! & 0x80) !== 0;
  const length = readInteger(buf, cursor, 7);
  const start = cursor.pos;
  const end = start + length;
  if (end > buf.length) throw new HpackError('header string runs past the end of the block');
  cursor.pos = end;
  return huffman ? decodeHuffman(buf, start, end) : Buffer.from(buf.buffer, buf.byteOffset + start, length).toString('latin1');
}
