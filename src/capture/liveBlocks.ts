import type { Readable } from 'node:stream';
import { CaptureParser, type CaptureBlock } from '../pcap/index.js';

/**
 * The blocks of a live pcap/pcapng stream, one batch per chunk as it arrives (readCaptureBatches waits for
 * large reads, which a live view cannot). Blocks are views into chunks that are never reused.
 * `leftover` reports bytes of an incomplete last record (tcpdump killed mid-write), which are dropped.
 */
export async function* liveBlocks(stream: Readable, sourceName: string, onLeftover: (bytes: number) => void): AsyncGenerator<CaptureBlock[]> {
  const parser = new CaptureParser({ sourceName });
  let pending: Buffer = Buffer.alloc(0);
  let offset = 0; // stream offset of pending[0]
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    const buf = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
    const batch: CaptureBlock[] = [];
    const progress = parser.parse(buf, 0, buf.length, offset, (b) => batch.push(b));
    pending = buf.subarray(progress.pos);
    offset += progress.pos;
    if (batch.length > 0) yield batch;
  }
  if (pending.length > 0) onLeftover(pending.length);
}
