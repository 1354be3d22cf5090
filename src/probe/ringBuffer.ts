/**
 * Pure decoding of what a trace instance's per-CPU `trace_pipe_raw` returns: ring-buffer sub-buffer pages
 * (layout in tracefs `events/header_page` and `events/header_event`) holding binary event records whose field
 * layout is in `events/GROUP/EVENT/format`. No text formatting by the kernel, none by us.
 */

/** Page header: u64 timestamp, then local_t commit (data size plus flags), then the data. */
const PAGE_HEADER = 16;
const MISSED_EVENTS = 1 << 31;
const MISSED_STORED = 1 << 30;
const COMMIT_SIZE_MASK = MISSED_STORED - 1;

const TYPE_PADDING = 29;
const TYPE_TIME_EXTEND = 30;
const TYPE_TIME_STAMP = 31;
/** Absolute time stamps carry 59 bits; the top bits come from the running time. */
const TS_MSB = 0xf8n << 56n;

export interface RawRecord {
  /** Trace clock time of the record (nanoseconds with the `mono` clock). */
  timeNs: bigint;
  /** The record: trace_entry header (common_type, flags, preempt_count, common_pid) and the event's fields. */
  data: Uint8Array;
}

export interface DecodedPage {
  records: RawRecord[];
  /** Events lost before this page (overwritten or dropped); undefined if some were lost but not counted. */
  missed: number | undefined;
  /** Why decoding stopped early, if it did (a corrupt or unexpected page). */
  error?: string;
}

/** Decodes one page read from trace_pipe_raw (the read's length, at most one sub-buffer). */
export function decodeRingBufferPage(page: Uint8Array): DecodedPage {
  if (page.length < PAGE_HEADER) return { records: [], missed: 0, error: `page of ${page.length} bytes is shorter than its header` };
  const view = new DataView(page.buffer, page.byteOffset, page.byteLength);
  let ts = view.getBigUint64(0, true);
  const commit = view.getUint32(8, true);
  const size = commit & COMMIT_SIZE_MASK;
  const end = PAGE_HEADER + size;
  if (end > page.length) return { records: [], missed: 0, error: `page data of ${size} bytes overruns the ${page.length}-byte read` };
  let missed: number | undefined = 0;
  if (commit & MISSED_EVENTS) {
    missed = commit & MISSED_STORED && end + 8 <= page.length ? Number(view.getBigUint64(end, true)) : undefined;
  }
  const records: RawRecord[] = [];
  let at = PAGE_HEADER;
  while (at + 4 <= end) {
    const header = view.getUint32(at, true);
    const typeLen = header & 0x1f;
    const delta = BigInt(header >>> 5);
    if (typeLen === TYPE_PADDING) {
      if (delta === 0n) break; // the rest of the page is padding
      if (at + 8 > end) return { records, missed, error: 'truncated padding record' };
      at += 4 + view.getUint32(at + 4, true); // a discarded event: skipped, and its time is not added
      continue;
    }
    if (typeLen === TYPE_TIME_EXTEND || typeLen === TYPE_TIME_STAMP) {
      if (at + 8 > end) return { records, missed, error: 'truncated time record' };
      const value = (BigInt(view.getUint32(at + 4, true)) << 27n) | delta;
      if (typeLen === TYPE_TIME_EXTEND) ts += value;
      else ts = absoluteTime(value, ts);
      at += 8;
      continue;
    }
    let dataStart: number;
    let length: number;
    if (typeLen === 0) {
      if (at + 8 > end) return { records, missed, error: 'truncated record length' };
      length = view.getUint32(at + 4, true) - 4;
      dataStart = at + 8;
    } else {
      length = typeLen * 4;
      dataStart = at + 4;
    }
    if (length < 0 || dataStart + length > end) return { records, missed, error: 'record overruns its page' };
    ts += delta;
    records.push({ timeNs: ts, data: page.subarray(dataStart, dataStart + length) });
    at = dataStart + length;
  }
  return { records, missed };
}

/** An absolute time stamp keeps the top bits of the time it follows (the kernel's rb_fix_abs_ts). */
function absoluteTime(value: bigint, current: bigint): bigint {
  if ((current & TS_MSB) === 0n) return value;
  let abs = value | (current & TS_MSB);
  if (abs < current) abs += 1n << 59n;
  return abs;
}

export interface FieldLayout {
  offset: number;
  size: number;
}

/** An event's id (common_type) and the offsets of its fields, from its tracefs `format` file. */
export interface EventFormat {
  id: number;
  fields: Map<string, FieldLayout>;
}

export function parseEventFormat(text: string): EventFormat {
  const id = /^ID: (\d+)$/m.exec(text);
  if (!id) throw new Error('event format without an ID line');
  const fields = new Map<string, FieldLayout>();
  for (const m of text.matchAll(/field:[^;]*?(\w+)(?:\[\d*\])?;\s*offset:(\d+);\s*size:(\d+);/g)) {
    fields.set(m[1]!, { offset: Number(m[2]), size: Number(m[3]) });
  }
  return { id: Number(id[1]), fields };
}
