import { constants } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { errnoReason, fileErrorCode, GokeylogError } from '../util/errors.js';

const BLOCK_SIZE = 64 * 1024;
const MAX_CACHED_BLOCKS = 64;
/** Reads larger than this bypass the block cache: they are whole tables read once. */
const DIRECT_READ_THRESHOLD = 4 * BLOCK_SIZE;
/**
 * The most one read may ask for. The largest table of a real Go binary (kube-apiserver's .gopclntab) is tens
 * of MiB; a header that claims more is hostile (a planted sparse binary whose .symtab claims 3.5 GiB), and the
 * file's size alone does not bound it, since a sparse file costs its owner nothing.
 */
export const MAX_READ = 256 * 1024 * 1024;

/**
 * Random access to a file by byte range, so that a 100 MB binary costs only the ranges we look at.
 * Small reads go through an LRU of 64 KiB blocks (headers, pointers, strings are read many times).
 */
export class FileReader {
  readonly #blocks = new Map<number, Buffer>();
  readonly #handle: FileHandle;

  private constructor(
    readonly path: string,
    handle: FileHandle,
    readonly size: number,
  ) {
    this.#handle = handle;
  }

  static async open(path: string): Promise<FileReader> {
    let handle: FileHandle;
    try {
      // Non-blocking: opening a FIFO for reading would otherwise wait for a writer (forever); the type is checked next.
      handle = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
    } catch (err) {
      throw new GokeylogError(`cannot open ${path}: ${errnoReason(err)}.`, fileErrorCode(err), { cause: err });
    }
    try {
      const stat = await handle.stat();
      if (!stat.isFile()) throw new GokeylogError(`${path} is not a regular file.`, 'GOKEYLOG_ERR_UNSUPPORTED_BINARY');
      return new FileReader(path, handle, stat.size);
    } catch (err) {
      await handle.close();
      throw err;
    }
  }

  async close(): Promise<void> {
    this.#blocks.clear();
    await this.#handle.close();
  }

  /** Exactly `length` bytes at `offset`, or a GokeylogError saying the file is truncated. */
  async read(offset: number, length: number): Promise<Buffer> {
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > this.size) {
      throw new GokeylogError(
        `${this.path} is truncated or corrupt: it has ${this.size} bytes but its headers point to ${length} bytes at offset ${offset}.`,
        'GOKEYLOG_ERR_UNSUPPORTED_BINARY',
      );
    }
    if (length > MAX_READ) {
      throw new GokeylogError(
        `${this.path} is not a binary gokeylog reads: its headers point to a table of ${length} bytes at offset ${offset}, more than ${MAX_READ >> 20} MiB.`,
        'GOKEYLOG_ERR_UNSUPPORTED_BINARY',
      );
    }
    if (length === 0) return Buffer.alloc(0);
    if (length > DIRECT_READ_THRESHOLD) return this.#readDirect(offset, length);
    const first = Math.floor(offset / BLOCK_SIZE);
    const last = Math.floor((offset + length - 1) / BLOCK_SIZE);
    if (first === last) {
      const block = await this.#block(first);
      const start = offset - first * BLOCK_SIZE;
      return block.subarray(start, start + length);
    }
    const parts: Buffer[] = [];
    for (let i = first; i <= last; i++) parts.push(await this.#block(i));
    const joined = Buffer.concat(parts);
    const start = offset - first * BLOCK_SIZE;
    return joined.subarray(start, start + length);
  }

  async #block(index: number): Promise<Buffer> {
    const cached = this.#blocks.get(index);
    if (cached) {
      // Re-insert to mark as most recently used.
      this.#blocks.delete(index);
      this.#blocks.set(index, cached);
      return cached;
    }
    const offset = index * BLOCK_SIZE;
    const block = await this.#readDirect(offset, Math.min(BLOCK_SIZE, this.size - offset));
    if (this.#blocks.size >= MAX_CACHED_BLOCKS) {
      const oldest = this.#blocks.keys().next().value;
      if (oldest !== undefined) this.#blocks.delete(oldest);
    }
    this.#blocks.set(index, block);
    return block;
  }

  async #readDirect(offset: number, length: number): Promise<Buffer> {
    const buffer = Buffer.allocUnsafe(length);
    let done = 0;
    while (done < length) {
      const { bytesRead } = await this.#handle.read(buffer, done, length - done, offset + done);
      if (bytesRead === 0) {
        throw new GokeylogError(`${this.path} changed while it was being read (it is shorter than before).`, 'GOKEYLOG_ERR_IO');
      }
      done += bytesRead;
    }
    return buffer;
  }
}

/** Opens `path`, runs `body`, and always closes the file. */
export async function withFile<T>(path: string, body: (reader: FileReader) => Promise<T>): Promise<T> {
  const reader = await FileReader.open(path);
  try {
    return await body(reader);
  } finally {
    await reader.close();
  }
}
