/**
 * HPACK header block decoder (RFC 7541): static table, dynamic table with size updates and eviction,
 * Huffman strings. One decoder per direction of a connection, fed header blocks in order.
 * Strings are latin1 so that a string's length is its size in octets, as the table accounting needs.
 */
import { decodeHuffman, HuffmanError } from './huffman.js';

export type HeaderField = [name: string, value: string];

export class HpackError extends Error {}

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
  private entries: HeaderField[] = [];
  private size = 0;
  constructor(private maxSize: number) {}

  get length(): number {
    return this.entries.length;
  }
  get currentSize(): number {
    return this.size;
  }
  get capacity(): number {
    return this.maxSize;
  }
  at(i: number): HeaderField | undefined {
    return this.entries[i];
  }
  setMaxSize(max: number): void {
    this.maxSize = max;
    this.evict(0);
  }
  add(field: HeaderField): void {
    const size = entrySize(field);
    // An entry larger than the table empties it and is not added (§4.4).
    this.evict(size);
    if (size <= this.maxSize) {
      this.entries.unshift(field);
      this.size += size;
    }
  }
  private evict(room: number): void {
    while (this.entries.length > 0 && this.size + room > this.maxSize) {
      this.size -= entrySize(this.entries.pop()!);
    }
  }
}

export class HpackDecoder {
  readonly table: DynamicTable;
  /** Upper bound for table size updates: the SETTINGS_HEADER_TABLE_SIZE the receiving side advertised. */
  maxAllowedTableSize: number;

  constructor(maxTableSize = 4096) {
    this.table = new DynamicTable(maxTableSize);
    this.maxAllowedTableSize = maxTableSize;
  }

  /** Decode one complete header block; throws HpackError on malformed input. */
  decode(block: Uint8Array): HeaderField[] {
    const fields: HeaderField[] = [];
    const cursor = { pos: 0 };
    let fieldSeen = false;
    try {
      while (cursor.pos < block.length) {
        const b = block[cursor.pos]!;
        if (b & 0x80) {
          fields.push(this.lookup(readInteger(block, cursor, 7)));
        } else if (b & 0x40) {
          const field = this.readLiteral(block, cursor, 6);
          this.table.add(field);
          fields.push(field);
        } else if (b & 0x20) {
          // Size updates must come first in a block (§4.2).
          if (fieldSeen) throw new HpackError('dynamic table size update after a header field');
          const size = readInteger(block, cursor, 5);
          if (size > this.maxAllowedTableSize) throw new HpackError(`dynamic table size update ${size} above the limit ${this.maxAllowedTableSize}`);
          this.table.setMaxSize(size);
          continue;
        } else {
          // Literal without indexing (0000) or never indexed (0001): same layout, 4-bit prefix.
          fields.push(this.readLiteral(block, cursor, 4));
        }
        fieldSeen = true;
      }
    } catch (err) {
      if (err instanceof HuffmanError) throw new HpackError(err.message);
      throw err;
    }
    return fields;
  }

  private lookup(index: number): HeaderField {
    if (index === 0) throw new HpackError('header index 0');
    if (index <= STATIC_TABLE.length) return STATIC_TABLE[index - 1]!;
    const field = this.table.at(index - STATIC_TABLE.length - 1);
    if (!field) throw new HpackError(`header index ${index} beyond the dynamic table`);
    return field;
  }

  private readLiteral(block: Uint8Array, cursor: { pos: number }, prefixBits: number): HeaderField {
    const nameIndex = readInteger(block, cursor, prefixBits);
    const name = nameIndex === 0 ? readString(block, cursor) : this.lookup(nameIndex)[0];
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
