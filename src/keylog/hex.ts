/** Lowercase hex of bytes, without copying them. */
export function bytesToHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}

const HEX = /^(?:[0-9a-fA-F]{2})*$/;

/** Bytes of an even-length hex string, or undefined if it is not one (Buffer.from would silently stop at the first bad digit). */
export function hexToBytes(hex: string): Uint8Array | undefined {
  return HEX.test(hex) ? new Uint8Array(Buffer.from(hex, 'hex')) : undefined;
}
