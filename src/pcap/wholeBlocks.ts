import { fstatSync, ftruncateSync, readSync } from 'node:fs';
import { BlockType } from './blocks.js';

/** What a pcapng file holds in whole blocks, as cutToWholeBlocks leaves it. */
export interface WholeBlocks {
  /** Where the last whole block ends: the file's length after the cut. */
  bytes: number;
  packets: number;
  secretsBlocks: number;
  /** Lines of the NSS key logs in the secrets blocks. */
  keys: number;
}

const CHUNK = 1 << 20;
const SHB_BYTE_ORDER_MAGIC = 0x1a2b3c4d;

/**
 * Cuts a pcapng file that a failed write (a full disk) left with a partial block at its end back to its last
 * whole block, so that tshark reads every block in it, and counts what is left. Only block headers and secrets
 * are read (in 1 MiB chunks), however large the file. For a file this process wrote from its start.
 */
export function cutToWholeBlocks(fd: number): WholeBlocks {
  const size = fstatSync(fd).size;
  const result: WholeBlocks = { bytes: 0, packets: 0, secretsBlocks: 0, keys: 0 };
  const buf = Buffer.allocUnsafe(CHUNK);
  let bufStart = 0;
  let bufEnd = 0;
  const bytesAt = (at: number, n: number): Buffer | undefined => {
    if (at + n > size) return undefined;
    if (at < bufStart || at + n > bufEnd) {
      bufStart = at;
      bufEnd = at + readSync(fd, buf, 0, Math.min(CHUNK, size - at), at);
      if (at + n > bufEnd) return n > CHUNK ? readWhole(fd, at, n) : undefined;
    }
    return buf.subarray(at - bufStart, at - bufStart + n);
  };
  let littleEndian = true;
  let at = 0;
  for (;;) {
    const header = bytesAt(at, 12);
    if (!header) break;
    let type = header.readUInt32LE(0);
    if (type === BlockType.SECTION_HEADER) littleEndian = header.readUInt32LE(8) === SHB_BYTE_ORDER_MAGIC;
    const u32 = (b: Buffer, o: number): number => (littleEndian ? b.readUInt32LE(o) : b.readUInt32BE(o));
    type = u32(header, 0);
    const length = u32(header, 4);
    if (length < 12 || length % 4 !== 0 || at + length > size) break;
    const trailer = bytesAt(at + length - 4, 4);
    if (!trailer || u32(trailer, 0) !== length) break;
    if (type === BlockType.ENHANCED_PACKET || type === BlockType.SIMPLE_PACKET || type === BlockType.PACKET) result.packets++;
    else if (type === BlockType.DECRYPTION_SECRETS) {
      result.secretsBlocks++;
      const block = bytesAt(at, length);
      if (block) {
        const secretsLength = u32(block, 12);
        const text = block.subarray(16, 16 + Math.min(secretsLength, length - 20));
        for (let nl = text.indexOf(10); nl >= 0; nl = text.indexOf(10, nl + 1)) result.keys++;
      }
    }
    at += length;
    result.bytes = at;
  }
  if (result.bytes < size) ftruncateSync(fd, result.bytes);
  return result;
}

function readWhole(fd: number, at: number, n: number): Buffer {
  const whole = Buffer.allocUnsafe(n);
  readSync(fd, whole, 0, n, at);
  return whole;
}
