import type { ProbeRecord } from './events.js';
import { LABEL_CAPTURE, LABEL_HEAD, RANDOM_CAPTURE, SECRET_CAPTURE } from './fetchArgs.js';
import type { EventFormat, FieldLayout } from './ringBuffer.js';

// `<comm>-<tid> [(<tgid>)] [<cpu>] [<flags>] <sec>.<usec>: <event>: (<ip>) <fields>`; comm may hold '-' and blanks,
// so the tid is the last '-<digits>' before the CPU column. The tgid column (option record-tgid) reads
// `(-------)` when the kernel has not recorded the thread's process yet.
const LINE = /^\s*.*-(?<tid>\d+)\s+(?:\(\s*(?<tgid>[-\d]+)\)\s+)?\[\d+\]\s+(?:\S+\s+)?(?<sec>\d+)\.(?<usec>\d+): (?<event>\w+): \(0x[0-9a-f]+\) (?<fields>.*)$/;
const LOST = /^CPU:\d+ \[LOST (\d+) EVENTS\]$/;
const FIELDS = /^lab=\{([^}]*)\} labt=(0x[0-9a-f]+) labn=(\d+) cr=\{([^}]*)\} crn=(\d+) sec=\{([^}]*)\} secn=(\d+) comm="(.*)"$/;

/** Parses one line of a trace instance's `trace_pipe` holding events of the probes this tool defined. */
export function parseTraceLine(line: string, isOurEvent: (event: string) => boolean): ProbeRecord {
  const lost = LOST.exec(line);
  if (lost) return { kind: 'lost', count: Number(lost[1]) };
  const m = LINE.exec(line)?.groups;
  if (!m || !isOurEvent(m.event!)) return { kind: 'other' };
  const f = FIELDS.exec(m.fields!);
  if (!f) return { kind: 'malformed', reason: 'unreadable trace line' };
  const label = sliceCaptured('label', `${f[1]!},${f[2]!}`, f[3]!, LABEL_CAPTURE);
  const clientRandom = sliceCaptured('client random', f[4]!, f[5]!, RANDOM_CAPTURE);
  const secret = sliceCaptured('secret', f[6]!, f[7]!, SECRET_CAPTURE);
  for (const part of [label, clientRandom, secret]) if (typeof part === 'string') return { kind: 'malformed', reason: part };
  const usec = m.usec!.padEnd(6, '0').slice(0, 6);
  return {
    kind: 'key',
    event: {
      probe: m.event!,
      tid: Number(m.tid),
      ...(m.tgid && /^\d+$/.test(m.tgid) ? { tgid: Number(m.tgid) } : {}),
      timeNs: BigInt(m.sec!) * 1_000_000_000n + BigInt(usec) * 1000n,
      comm: f[8]!,
      label: label as Uint8Array,
      clientRandom: clientRandom as Uint8Array,
      secret: secret as Uint8Array,
    },
  };
}

/**
 * The first `lengthText` bytes of printed u64s (`0x%Lx` each, the bytes in memory order when little-endian:
 * the probed architectures are), or why they cannot be had. A label's items are its 3 head u64s and its tail u64,
 * which overlaps the head by one byte.
 */
function sliceCaptured(what: string, arrayText: string, lengthText: string, capacity: number): Uint8Array | string {
  const length = Number(lengthText);
  const tooLong = lengthBeyondCapture(what, lengthText, capacity);
  if (tooLong) return tooLong;
  const items = arrayText.split(',');
  const expected = Math.ceil(capacity / 8);
  if (items.length !== expected) return `${what} array has ${items.length} items, expected ${expected}`;
  const captured = Buffer.allocUnsafe(items.length * 8);
  for (let i = 0; i < items.length; i++) {
    const item = items[i]!;
    if (!/^0x[0-9a-f]{1,16}$/.test(item)) return `${what} item ${JSON.stringify(item)} is not a hex u64`;
    captured.writeBigUInt64LE(BigInt(item), i * 8);
  }
  // A label's tail u64 holds bytes 23–30: move it there, over the head's last byte (the same byte, read twice).
  if (capacity % 8 !== 0) captured.copyWithin(capacity - 8, captured.length - 8);
  return captured.subarray(0, length);
}

/** A length beyond what was captured cannot be a key log value; it must not be silently cut to fit. */
function lengthBeyondCapture(what: string, length: bigint | string, capacity: number): string | undefined {
  const n = Number(length);
  return Number.isSafeInteger(n) && n <= capacity ? undefined : `${what} length ${length} exceeds ${capacity}`;
}

/** Where our probe's fields are in its records: resolved once per format, as every key's record is read with it. */
interface KeyRecordLayout {
  pid: FieldLayout;
  lab: FieldLayout;
  labt: FieldLayout;
  labn: FieldLayout;
  cr: FieldLayout;
  crn: FieldLayout;
  sec: FieldLayout;
  secn: FieldLayout;
  comm: FieldLayout;
  /** The record holds at least this many bytes. */
  end: number;
}

const KEY_RECORD_FIELDS = ['common_pid', 'lab', 'labt', 'labn', 'cr', 'crn', 'sec', 'secn', 'comm'] as const;
const layouts = new WeakMap<EventFormat, KeyRecordLayout | null>();

function keyRecordLayout(format: EventFormat): KeyRecordLayout | null {
  let layout = layouts.get(format);
  if (layout === undefined) {
    const fields = KEY_RECORD_FIELDS.map((name) => format.fields.get(name));
    const [pid, lab, labt, labn, cr, crn, sec, secn, comm] = fields;
    const labelRead = lab?.size === LABEL_HEAD && labt?.size === 8;
    layout = pid && lab && labt && labn && cr && crn && sec && secn && comm && labelRead
      ? { pid, lab, labt, labn, cr, crn, sec, secn, comm, end: Math.max(...fields.map((f) => f!.offset + f!.size)) }
      : null;
    layouts.set(format, layout);
  }
  return layout;
}

const u32le = (b: Uint8Array, at: number): number => (b[at]! | (b[at + 1]! << 8) | (b[at + 2]! << 16) | (b[at + 3]! << 24)) >>> 0;

/** A u64 length field, or why it cannot be the length of a value captured in `capacity` bytes. */
function capturedLength(data: Uint8Array, what: string, len: FieldLayout, capacity: number): number | string {
  const low = u32le(data, len.offset);
  const high = u32le(data, len.offset + 4);
  if (high !== 0 || low > capacity) return lengthBeyondCapture(what, (BigInt(high) << 32n) | BigInt(low), capacity)!;
  return low;
}

/**
 * The first `len` bytes of a captured array, as a copy (the record lives in a page buffer that the next read
 * overwrites), or why they cannot be had.
 */
function cutArray(data: Uint8Array, what: string, array: FieldLayout, len: FieldLayout): Uint8Array | string {
  const length = capturedLength(data, what, len, array.size);
  if (typeof length === 'string') return length;
  const bytes = ownedBytes(length);
  bytes.set(data.subarray(array.offset, array.offset + length));
  return bytes;
}

/** The label from its head (`lab`, bytes 0–23) and tail (`labt`, bytes 23–30), cut to `labn`. */
function cutLabel(data: Uint8Array, layout: KeyRecordLayout): Uint8Array | string {
  const length = capturedLength(data, 'label', layout.labn, LABEL_CAPTURE);
  if (typeof length === 'string') return length;
  const bytes = ownedBytes(length);
  bytes.set(data.subarray(layout.lab.offset, layout.lab.offset + Math.min(length, LABEL_HEAD)));
  // labt holds the label's bytes 23–30: byte j (j ≥ 24) is labt[j - 23].
  const tailFrom = LABEL_CAPTURE - 8;
  if (length > LABEL_HEAD) bytes.set(data.subarray(layout.labt.offset + LABEL_HEAD - tailFrom, layout.labt.offset + length - tailFrom), LABEL_HEAD);
  return bytes;
}

/**
 * A copy's storage (the record lives in a page buffer that the next read overwrites). A Buffer from Node's pool,
 * not a small Uint8Array: V8 keeps those inside its heap and moves one out (allocating) the first time its
 * `.buffer` is taken, which formatting the key line does: that was most of the cost of decoding a key.
 */
const ownedBytes = (length: number): Uint8Array => Buffer.allocUnsafe(length);

/**
 * Decodes one binary record of our probe (from trace_pipe_raw) with the field layout of its `format` file.
 * The thread id is common_pid; the process id is not in the record. Per key: no BigInt, no closure.
 */
export function decodeKeyRecord(data: Uint8Array, timeNs: bigint, probe: string, format: EventFormat): ProbeRecord {
  const layout = keyRecordLayout(format);
  if (!layout || layout.end > data.length) return { kind: 'malformed', reason: 'record shorter than its format' };
  const label = cutLabel(data, layout);
  if (typeof label === 'string') return { kind: 'malformed', reason: label };
  const clientRandom = cutArray(data, 'client random', layout.cr, layout.crn);
  if (typeof clientRandom === 'string') return { kind: 'malformed', reason: clientRandom };
  const secret = cutArray(data, 'secret', layout.sec, layout.secn);
  if (typeof secret === 'string') return { kind: 'malformed', reason: secret };
  // __data_loc: the low 16 bits are the string's offset in the record, the high 16 its length with the NUL.
  const loc = u32le(data, layout.comm.offset);
  const commStart = Math.min(data.length, loc & 0xffff);
  const commEnd = Math.min(data.length, commStart + (loc >>> 16));
  const nul = data.subarray(commStart, commEnd).indexOf(0);
  const comm = Buffer.from(data.buffer, data.byteOffset + commStart, (nul < 0 ? commEnd : commStart + nul) - commStart).toString('latin1');
  return {
    kind: 'key',
    event: { probe, tid: u32le(data, layout.pid.offset) | 0, timeNs, comm, label, clientRandom, secret },
  };
}
