import type { Readable } from 'node:stream';
import { CaptureParser, type CaptureBlock } from '../pcap/index.js';

/**
 * The blocks of a live pcap/pcapng stream, one batch per chunk as it arrives (readCaptureBatches waits for
 * large reads, which a live view cannot). Blocks are views into chunks that are never reused.
 * `onLeftover` reports bytes of an incomplete last record (tcpdump killed mid-write), which are dropped.
 */
export async function* liveBlocks(stream: Readable, sourceName: string, onLeftover: (bytes: number) => void): AsyncGenerator<CaptureBlock[]> {
  const parser = new CaptureParser({ sourceName });
  // The start of a block that straddles chunks, its stream offset, and how many bytes it needs in all.
  let pending: Buffer = Buffer.alloc(0);
  let pendingOffset = 0;
  let need = 0;
  let offset = 0; // stream offset of the current chunk
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    const batch: CaptureBlock[] = [];
    const emit = (b: CaptureBlock): void => void batch.push(b);
    let pos = 0;
    // Complete a straddling block with only the bytes it still needs, rather than copying the whole chunk.
    while (pending.length > 0 && pos < chunk.length) {
      const take = Math.min(chunk.length - pos, Math.max(need - pending.length, 1));
      const joined = Buffer.concat([pending, chunk.subarray(pos, pos + take)]);
      pos += take;
      const progress = parser.parse(joined, 0, joined.length, pendingOffset, emit);
      pending = joined.subarray(progress.pos);
      pendingOffset += progress.pos;
      need = progress.need;
    }
    if (pending.length === 0) {
      const progress = parser.parse(chunk, pos, chunk.length, offset, emit);
      pending = chunk.subarray(progress.pos);
      pendingOffset = offset + progress.pos;
      need = progress.need;
    }
    offset += chunk.length;
    if (batch.length > 0) yield batch;
  }
  if (pending.length > 0) onLeftover(pending.length);
}
