import { closeSync, constants, openSync, readFileSync, readSync, readdirSync } from 'node:fs';
import path from 'node:path';
import type { ProbeRecord, TgidLookup } from './events.js';
import { decodeRingBufferPage, parseEventFormat, type EventFormat } from './ringBuffer.js';
import { decodeKeyRecord, parseTraceLine } from './tracefsEvent.js';

/** Turns one binary record of a probe into what the session reads (decodeKeyRecord for writeKeyLog probes). */
export type RecordDecoder = (data: Uint8Array, timeNs: bigint, probe: string, format: EventFormat) => ProbeRecord;

/** How a trace instance's events are read: formatted text by the kernel, or its binary ring-buffer pages. */
export type TracePipeFormat = 'text' | 'raw';

/** Reads our probes' events from a trace instance, without blocking; `drain` reads all that is there now. */
export interface TracePipe {
  /**
   * Tells the reader about a probe it will see events of (`formatFile`: its events/GROUP/EVENT/format). Only the
   * raw reader takes other decoders than writeKeyLog's; the text reader refuses them.
   */
  register(event: string, formatFile: string, decode?: RecordDecoder): void;
  unregister(event: string): void;
  drain(): void;
  /** Lost-event counts already passed on as records (to avoid counting them twice at the end). */
  readonly reportedLost: number;
  close(): void;
}

export function openTracePipe(format: TracePipeFormat, instance: string, onRecord: (r: ProbeRecord) => void): TracePipe {
  return format === 'raw' ? new RawTracePipe(instance, onRecord) : new TextTracePipe(instance, onRecord);
}

const openNonBlocking = (file: string): number => openSync(file, constants.O_RDONLY | constants.O_NONBLOCK);

/** Reads `fd` until it has nothing more (EAGAIN) or ends. */
function readAvailable(fd: number, buf: Buffer, onChunk: (n: number) => void): void {
  for (;;) {
    let n: number;
    try {
      n = readSync(fd, buf, 0, buf.length, null);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EAGAIN') return;
      throw err;
    }
    if (n === 0) return;
    onChunk(n);
  }
}

/** `trace_pipe`: the kernel formats each event as a line when it is read. Simple; costs formatting time. */
class TextTracePipe implements TracePipe {
  readonly #fd: number;
  readonly #events = new Set<string>();
  readonly #onRecord: (r: ProbeRecord) => void;
  readonly #buf = Buffer.allocUnsafe(1 << 16);
  #partial = '';
  reportedLost = 0;

  constructor(instance: string, onRecord: (r: ProbeRecord) => void) {
    this.#fd = openNonBlocking(path.join(instance, 'trace_pipe'));
    this.#onRecord = onRecord;
  }

  register(event: string, _formatFile: string, decode?: RecordDecoder): void {
    if (decode) throw new Error('the text trace_pipe reader reads writeKeyLog probes only');
    this.#events.add(event);
  }

  unregister(event: string): void {
    this.#events.delete(event);
  }

  drain(): void {
    readAvailable(this.#fd, this.#buf, (n) => {
      const lines = (this.#partial + this.#buf.toString('latin1', 0, n)).split('\n');
      this.#partial = lines.pop()!;
      for (const line of lines) {
        const record = parseTraceLine(line, (e) => this.#events.has(e));
        if (record.kind === 'lost') this.reportedLost += record.count;
        if (record.kind !== 'other') this.#onRecord(record);
      }
    });
  }

  close(): void {
    closeSync(this.#fd);
  }
}

/**
 * Per-CPU `trace_pipe_raw`: whole ring-buffer pages, decoded here with each event's `format`. The process id is
 * not in a record: it comes from the kernel's saved_tgids (filled by the instance's record-tgid option).
 */
class RawTracePipe implements TracePipe {
  readonly #fds: number[];
  readonly #formats = new Map<number, { event: string; format: EventFormat; decode: RecordDecoder }>();
  readonly #onRecord: (r: ProbeRecord) => void;
  readonly #page: Buffer;
  readonly #tgids = new Map<number, number>();
  readonly #savedTgids: string;
  /** Whether saved_tgids was read during this drain already. */
  #tgidsFresh = false;
  reportedLost = 0;

  constructor(instance: string, onRecord: (r: ProbeRecord) => void) {
    const cpus = readdirSync(path.join(instance, 'per_cpu')).filter((d) => /^cpu\d+$/.test(d));
    this.#fds = cpus.map((cpu) => openNonBlocking(path.join(instance, 'per_cpu', cpu, 'trace_pipe_raw')));
    this.#onRecord = onRecord;
    this.#page = Buffer.alloc(subBufferBytes(instance));
    this.#savedTgids = path.join(instance, '..', '..', 'saved_tgids');
  }

  register(event: string, formatFile: string, decode: RecordDecoder = decodeKeyRecord): void {
    const format = parseEventFormat(readFileSync(formatFile, 'utf8'));
    this.#formats.set(format.id, { event, format, decode });
  }

  unregister(event: string): void {
    for (const [id, f] of this.#formats) if (f.event === event) this.#formats.delete(id);
  }

  drain(): void {
    this.#tgidsFresh = false;
    for (const fd of this.#fds) {
      readAvailable(fd, this.#page, (n) => {
        const page = decodeRingBufferPage(this.#page.subarray(0, n));
        if (page.missed !== 0) {
          const count = page.missed ?? 1;
          this.reportedLost += count;
          this.#onRecord({ kind: 'lost', count });
        }
        if (page.error) this.#onRecord({ kind: 'malformed', reason: `trace_pipe_raw: ${page.error}` });
        for (const r of page.records) {
          const ours = this.#formats.get(r.data.length >= 2 ? r.data[0]! | (r.data[1]! << 8) : -1);
          if (!ours) continue;
          const record = ours.decode(r.data, r.timeNs, ours.event, ours.format);
          const hit = record.kind === 'key' ? record.event : record.kind === 'conn' ? record.hit : undefined;
          // Asked only when /proc has no answer (the thread is gone): reading the kernel's table costs far more
          // than the rest of a key, and the hit is handled within this drain, while the table is current. A plain
          // property, not a getter: defineProperty put every hit in dictionary mode (1.2 µs a key).
          if (hit) hit.tgidOf = this.#tgidOf;
          this.#onRecord(record);
        }
      });
    }
  }

  /** The process of a thread, as the kernel recorded it; an unknown thread reloads the table, at most once per drain. */
  readonly #tgidOf: TgidLookup = (tid) => {
    if (!this.#tgids.has(tid) && !this.#tgidsFresh) {
      this.#tgidsFresh = true;
      try {
        const table = readFileSync(this.#savedTgids, 'utf8');
        this.#tgids.clear(); // a copy of the kernel's table, not a growing history
        for (const m of table.matchAll(/^(\d+) (\d+)$/gm)) this.#tgids.set(Number(m[1]), Number(m[2]));
      } catch {
        // no table: the caller falls back to /proc
      }
    }
    return this.#tgids.get(tid);
  };

  close(): void {
    for (const fd of this.#fds) closeSync(fd);
  }
}

/** A read of trace_pipe_raw returns at most one sub-buffer (4 KiB unless buffer_subbuf_size_kb says otherwise). */
function subBufferBytes(instance: string): number {
  try {
    return Number(readFileSync(path.join(instance, 'buffer_subbuf_size_kb'), 'utf8').trim()) * 1024 || 4096;
  } catch {
    return 4096;
  }
}
