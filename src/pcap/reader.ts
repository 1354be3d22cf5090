import { open, type FileHandle } from 'node:fs/promises';
import { errnoReason, fileErrorCode, GokeylogError } from '../util/errors.js';
import type { CaptureBlock, PacketBlock } from './blocks.js';
import { CaptureParser, type ParseProgress } from './parser.js';

/** Read size: large enough that per-read overhead vanishes, small enough that the packet objects of a batch die young (measured: 4 MiB chunks doubled GC time and RSS). */
const CHUNK_SIZE = 512 * 1024;

export interface ReadCaptureOptions {
  /** Told about blocks passed through uninterpreted (unknown types). */
  onWarning?: (message: string) => void;
  /** Called after each chunk with the bytes read so far and the input size if known. */
  onProgress?: (bytesRead: number, totalBytes: number | undefined) => void;
  /** Names a stream input in error messages. */
  sourceName?: string;
  /**
   * Read into the same two chunks over and over instead of fresh ones: faster through huge files, but the
   * blocks of a batch (and every view they give) are valid only until the next batch is asked for.
   */
  reuseChunks?: boolean;
  /**
   * For a live source (tcpdump stopped at any moment). An incomplete last block is an error, unless this is
   * given: then it is dropped and this is told how many bytes it had; and input that ends before its first byte
   * is then no capture rather than an error (tcpdump that exited before writing anything).
   */
  onTruncatedEnd?: (leftoverBytes: number, offset: number) => void;
}

/**
 * Reads a pcap or pcapng file (path, "-" for stdin, or a stream) in chunks and yields the blocks of each chunk
 * (of a stream: of what has arrived) as one array; the next bytes are read while the consumer works on a batch. Blocks are views into chunks that
 * are never reused (unless `reuseChunks`), so they stay valid as long as they are held.
 */
export async function* readCaptureBatches(source: string | NodeJS.ReadableStream, opts: ReadCaptureOptions = {}): AsyncGenerator<CaptureBlock[]> {
  const input = await openInput(source, opts.sourceName);
  let reading: Promise<{ end: number; done: boolean }> | undefined;
  try {
    // A file cut short (copied mid-write, disk full) is read up to the cut when the caller takes truncation:
    // without its size the parser waits for the cut block's bytes until the end, which then reports it.
    const fileSize = opts.onTruncatedEnd ? undefined : input.size;
    const parser = new CaptureParser({ sourceName: input.name, fileSize, onWarning: opts.onWarning });
    let buf: Buffer = Buffer.allocUnsafe(CHUNK_SIZE);
    let bufOffset = 0; // input offset of buf[0]
    let progress: ParseProgress = { pos: 0, need: 0 };
    let spare: Buffer | undefined; // with reuseChunks: the chunk of the batch the consumer is done with
    reading = input.fill(buf, 0);
    for (;;) {
      const { end, done } = await reading;
      reading = undefined;
      const batch: CaptureBlock[] = [];
      progress = parser.parse(buf, progress.pos, end, bufOffset, (b) => batch.push(b));
      opts.onProgress?.(bufOffset + end, input.size);
      if (done) {
        if (batch.length > 0) yield batch;
        const leftover = end - progress.pos;
        if (leftover > 0 && opts.onTruncatedEnd && parser.format !== undefined) opts.onTruncatedEnd(leftover, bufOffset + progress.pos);
        else if (leftover > 0 || !opts.onTruncatedEnd) parser.finish(leftover, progress, bufOffset);
        return;
      }
      if (end < buf.length && progress.pos + progress.need <= buf.length) {
        // A stream delivered less than a chunk: read on into the same chunk (after the bytes already
        // parsed, so yielded views stay intact) while the consumer works on this batch.
        reading = input.fill(buf, end);
        if (batch.length > 0) yield batch;
        continue;
      }
      // Move the incomplete tail to a fresh chunk (never reuse one: yielded views point into it) and read
      // the rest of it while the consumer works on this batch.
      const size = Math.max(CHUNK_SIZE, progress.need);
      const next = spare && spare.length >= size ? spare : Buffer.allocUnsafe(size);
      spare = undefined;
      const tail = buf.copy(next, 0, progress.pos, end);
      const consumed = buf;
      bufOffset += progress.pos;
      buf = next;
      progress = { pos: 0, need: progress.need };
      reading = input.fill(buf, tail);
      if (batch.length > 0) yield batch;
      if (opts.reuseChunks) spare = consumed;
    }
  } finally {
    await reading?.catch(() => undefined); // a consumer that stopped early: let the read finish before closing
    await input.close();
  }
}

/** Every block of a capture, one at a time (see readCaptureBatches). */
export async function* readCapture(source: string | NodeJS.ReadableStream, opts: ReadCaptureOptions = {}): AsyncGenerator<CaptureBlock> {
  for await (const batch of readCaptureBatches(source, opts)) yield* batch;
}

/** Calls `visit` synchronously for every packet: the fastest way through a large capture. */
export async function forEachPacket(source: string | NodeJS.ReadableStream, visit: (p: PacketBlock) => void, opts: ReadCaptureOptions = {}): Promise<void> {
  for await (const batch of readCaptureBatches(source, opts)) {
    for (const b of batch) if (b.kind === 'packet') visit(b);
  }
}

interface Input {
  name: string;
  size: number | undefined;
  /** Reads into buf from `start`: a file until buf is full or the file ends, a stream what has arrived. */
  fill(buf: Buffer, start: number): Promise<{ end: number; done: boolean }>;
  close(): Promise<void>;
}

async function openInput(source: string | NodeJS.ReadableStream, name?: string): Promise<Input> {
  if (source === '-') return streamInput(process.stdin, name ?? 'standard input');
  if (typeof source !== 'string') return streamInput(source, name ?? 'the capture stream');
  let fh: FileHandle;
  try {
    fh = await open(source, 'r');
  } catch (err) {
    throw new GokeylogError(`cannot open capture ${source}: ${errnoReason(err)}.`, fileErrorCode(err), { cause: err });
  }
  const stat = await fh.stat();
  if (stat.isDirectory()) {
    await fh.close();
    throw new GokeylogError(`cannot open capture ${source}: it is a directory.`, 'GOKEYLOG_ERR_IO');
  }
  return {
    name: source,
    size: stat.isFile() ? stat.size : undefined,
    async fill(buf, start) {
      let end = start;
      while (end < buf.length) {
        const { bytesRead } = await fh.read(buf, end, buf.length - end, null);
        if (bytesRead === 0) return { end, done: true };
        end += bytesRead;
      }
      return { end, done: false };
    },
    close: () => fh.close(),
  };
}

function streamInput(stream: NodeJS.ReadableStream, name: string): Input {
  const chunks = stream[Symbol.asyncIterator]() as AsyncIterator<Buffer | string>;
  let pending: Buffer | undefined;
  return {
    name,
    size: undefined,
    async fill(buf, start) {
      // What has arrived, at least one byte: a live capture is parsed as it comes, not a chunk at a time.
      if (!pending || pending.length === 0) {
        const r = await chunks.next();
        if (r.done) return { end: start, done: true };
        pending = typeof r.value === 'string' ? Buffer.from(r.value, 'latin1') : r.value;
      }
      const n = pending.copy(buf, start);
      pending = pending.subarray(n);
      return { end: start + n, done: false };
    },
    async close() {
      await chunks.return?.();
    },
  };
}
