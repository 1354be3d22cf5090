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

export function dsb(le: boolean, secretsType: number, secrets: Buffer): Buffer {
  return block(0x0a, Buffer.concat([u32(secretsType, le), u32(secrets.length, le), padded(secrets)]), le);
}

export function pcapHeader(le: boolean, nano: boolean, linkType: number, snapLength = 65535): Buffer {
  return Buffer.concat([u32(nano ? 0xa1b23c4d : 0xa1b2c3d4, le), u16(2, le), u16(4, le), u32(0, le), u32(0, le), u32(snapLength, le), u32(linkType, le)]);
}

export function pcapRecord(le: boolean, seconds: number, fraction: number, data: Buffer, originalLength = data.length): Buffer {
  return Buffer.concat([u32(seconds, le), u32(fraction, le), u32(data.length, le), u32(originalLength, le), data]);
}
