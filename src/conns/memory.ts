import { closeSync, constants, openSync, readSync } from 'node:fs';

/** Reads of another process's memory; undefined where the address is not mapped (or the process is gone). */
export interface MemoryReader {
  read(address: bigint, length: number): Uint8Array | undefined;
}

/** The most `conns` reads in one go: a certificate's DER (Go refuses far smaller handshake messages). */
export const MAX_READ = 1 << 16;

/**
 * /proc/PID/mem, opened read-only (the target is never written to). Go's heap addresses fit in a double
 * (below 2^53), so positions are plain numbers; anything larger is refused rather than rounded.
 */
export class ProcessMemory implements MemoryReader {
  readonly #fd: number;

  constructor(readonly pid: number) {
    this.#fd = openSync(`/proc/${pid}/mem`, constants.O_RDONLY | constants.O_NOFOLLOW);
  }

  read(address: bigint, length: number): Uint8Array | undefined {
    if (address <= 0n || address > BigInt(Number.MAX_SAFE_INTEGER) - BigInt(MAX_READ)) return undefined;
    if (!Number.isSafeInteger(length) || length < 0 || length > MAX_READ) return undefined;
    const buf = Buffer.alloc(length);
    try {
      return readSync(this.#fd, buf, 0, length, Number(address)) === length ? buf : undefined;
    } catch {
      return undefined; // EIO: not mapped
    }
  }

  close(): void {
    closeSync(this.#fd);
  }
}

/** Little-endian words read through a MemoryReader. */
export function readU64(mem: MemoryReader, address: bigint): bigint | undefined {
  const b = mem.read(address, 8);
  return b && new DataView(b.buffer, b.byteOffset, 8).getBigUint64(0, true);
}

export function readU16(mem: MemoryReader, address: bigint): number | undefined {
  const b = mem.read(address, 2);
  return b && b[0]! | (b[1]! << 8);
}

/** A Go slice or string header {ptr, len} (cap ignored), with the length bounded before anything is read. */
export function readSliceBytes(mem: MemoryReader, header: bigint, maxLength: number): Uint8Array | undefined {
  const ptr = readU64(mem, header);
  const len = readU64(mem, header + 8n);
  if (ptr === undefined || len === undefined || len > BigInt(maxLength)) return undefined;
  if (len === 0n) return new Uint8Array(0);
  return mem.read(ptr, Number(len));
}
