/**
 * Byte-level builders for reader tests: every field spelled out here, independently of src/pcap's writer,
 * so the reader is checked against the format, not against our own encoder.
 */

export function u16(v: number, le: boolean): Buffer {
  const b = Buffer.alloc(2);
  if (le) b.writeUInt16LE(v);
  else b.writeUInt16BE(v);
  return b;
}

export function u32(v: number, le: boolean): Buffer {
  const b = Buffer.alloc(4);
  if (le) b.writeUInt32LE(v);
  else b.writeUInt32BE(v);
  return b;
}

export function padded(data: Uint8Array): Buffer {
  return Buffer.concat([data, Buffer.alloc((4 - (data.length % 4)) % 4)]);
}

/** One option: code, length, value padded to 4. */
export function option(code: number, value: Uint8Array | string, le: boolean): Buffer {
  const v = typeof value === 'string' ? Buffer.from(value) : Buffer.from(value);
  return Buffer.concat([u16(code, le), u16(v.length, le), padded(v)]);
}

/** An option list with its end marker. */
export function optionList(options: Buffer[], le: boolean): Buffer {
  return options.length === 0 ? Buffer.alloc(0) : Buffer.concat([...options, u16(0, le), u16(0, le)]);
}

/** A pcapng block: type, total length, body, total length. */
export function block(type: number, body: Buffer, le: boolean): Buffer {
  const total = 12 + body.length;
  return Buffer.concat([u32(type, le), u32(total, le), body, u32(total, le)]);
}

export function shb(le: boolean, options: Buffer[] = []): Buffer {
  const body = Buffer.concat([u32(0x1a2b3c4d, le), u16(1, le), u16(0, le), Buffer.alloc(8, 0xff), optionList(options, le)]);
  return block(0x0a0d0d0a, body, le);
}

export function idb(le: boolean, linkType: number, snapLength: number, options: Buffer[] = []): Buffer {
  return block(1, Buffer.concat([u16(linkType, le), u16(0, le), u32(snapLength, le), optionList(options, le)]), le);
}

export function epb(le: boolean, interfaceId: number, tsHigh: number, tsLow: number, data: Buffer, originalLength = data.length, options: Buffer[] = []): Buffer {
  const body = Buffer.concat([u32(interfaceId, le), u32(tsHigh, le), u32(tsLow, le), u32(data.length, le), u32(originalLength, le), padded(data), optionList(options, le)]);
  return block(6, body, le);
}

export function spb(le: boolean, data: Buffer, originalLength = data.length): Buffer {
  return block(3, Buffer.concat([u32(originalLength, le), padded(data)]), le);
}

/** The obsolete Packet Block: 16-bit interface id and drops count. */
export function obsoletePb(le: boolean, interfaceId: number, tsHigh: number, tsLow: number, data: Buffer, options: Buffer[] = []): Buffer {
  const body = Buffer.concat([u16(interfaceId, le), u16(0, le), u32(tsHigh, le), u32(tsLow, le), u32(data.length, le), u32(data.length, le), padded(data), optionList(options, le)]);
  return block(2, body, le);
}

/** The pcapng spec's Decryption Secrets Block type, and its secrets type for an NSS key log ("TLSK"). */
export const DSB_TYPE = 0x0000000a;
export const TLS_KEY_LOG = 0x544c534b;

/**
 * A Decryption Secrets Block, field by field as the spec lays it out: block type, total length, secrets type,
 * secrets length, the secrets, zero padding to 4 bytes, total length again (no options).
 */
export function dsb(le: boolean, secretsType: number, secrets: Buffer): Buffer {
  const padding = (4 - (secrets.length % 4)) % 4;
  const total = 4 + 4 + 4 + 4 + secrets.length + padding + 4;
  return Buffer.concat([u32(DSB_TYPE, le), u32(total, le), u32(secretsType, le), u32(secrets.length, le), secrets, Buffer.alloc(padding), u32(total, le)]);
}

/** The byte order of the section that starts `bytes`: its byte-order magic (offset 8) as written. */
export function sectionLittleEndian(bytes: Buffer): boolean {
  const magic = bytes.readUInt32LE(8);
  if (magic !== 0x1a2b3c4d && magic !== 0x4d3c2b1a) throw new Error('no pcapng section header at the start');
  return magic === 0x1a2b3c4d;
}

/**
 * The secrets of the Decryption Secrets Block at `at`, read field by field as the spec lays it out; throws
 * unless the block type, both total lengths and the zero padding are what the spec says.
 */
export function secretsBlockAt(bytes: Buffer, at: number, le: boolean): { secretsType: number; secrets: Buffer; end: number } {
  const read = (offset: number): number => (le ? bytes.readUInt32LE(at + offset) : bytes.readUInt32BE(at + offset));
  const [type, total, secretsType, length] = [read(0), read(4), read(8), read(12)];
  const padding = (4 - (length % 4)) % 4;
  if (type !== DSB_TYPE) throw new Error(`block type 0x${type.toString(16)} at ${at}, not a DSB`);
  if (total !== 16 + length + padding + 4 || read(total - 4) !== total) throw new Error(`DSB at ${at}: total length ${total} for ${length} bytes of secrets`);
  if (bytes.subarray(at + 16 + length, at + 16 + length + padding).some((b) => b !== 0)) throw new Error(`DSB at ${at}: padding not zero`);
  return { secretsType, secrets: bytes.subarray(at + 16, at + 16 + length), end: at + total };
}

/** Where `needle` occurs in `haystack`, every offset. */
export function offsetsOf(haystack: Buffer, needle: Buffer): number[] {
  const found: number[] = [];
  for (let at = haystack.indexOf(needle); at >= 0; at = haystack.indexOf(needle, at + 1)) found.push(at);
  return found;
}

export function pcapHeader(le: boolean, nano: boolean, linkType: number, snapLength = 65535): Buffer {
  return Buffer.concat([u32(nano ? 0xa1b23c4d : 0xa1b2c3d4, le), u16(2, le), u16(4, le), u32(0, le), u32(0, le), u32(snapLength, le), u32(linkType, le)]);
}

export function pcapRecord(le: boolean, seconds: number, fraction: number, data: Buffer, originalLength = data.length): Buffer {
  return Buffer.concat([u32(seconds, le), u32(fraction, le), u32(data.length, le), u32(originalLength, le), data]);
}
