/** An HTTP/2 frame built byte by byte (RFC 9113 §4.1), for tests. */
export function http2Frame(type: number, flags: number, streamId: number, payload: number[] | Buffer): Buffer {
  const p = Buffer.from(payload);
  const h = Buffer.alloc(9);
  h.writeUIntBE(p.length, 0, 3);
  h[3] = type;
  h[4] = flags;
  h.writeUInt32BE(streamId, 5);
  return Buffer.concat([h, p]);
}
