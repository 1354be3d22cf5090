import type { ProbeRecord } from './events.js';
import { LABEL_CAPTURE, RANDOM_CAPTURE, SECRET_CAPTURE } from './fetchArgs.js';
import type { EventFormat, FieldLayout } from './ringBuffer.js';

// `<comm>-<tid> [(<tgid>)] [<cpu>] [<flags>] <sec>.<usec>: <event>: (<ip>) <fields>`; comm may hold '-' and blanks,
// so the tid is the last '-<digits>' before the CPU column. The tgid column (option record-tgid) reads
// `(-------)` when the kernel has not recorded the thread's process yet.
const LINE = /^\s*.*-(?<tid>\d+)\s+(?:\(\s*(?<tgid>[-\d]+)\)\s+)?\[\d+\]\s+(?:\S+\s+)?(?<sec>\d+)\.(?<usec>\d+): (?<event>\w+): \(0x[0-9a-f]+\) (?<fields>.*)$/;
const LOST = /^CPU:\d+ \[LOST (\d+) EVENTS\]$/;
const FIELDS = /^lab=\{([^}]*)\} labn=(\d+) cr=\{([^}]*)\} crn=(\d+) sec=\{([^}]*)\} secn=(\d+) comm="(.*)"$/;

/** Parses one line of a trace instance's `trace_pipe` holding events of the probes this tool defined. */
export function parseTraceLine(line: string, isOurEvent: (event: string) => boolean): ProbeRecord {
  const lost = LOST.exec(line);
  if (lost) return { kind: 'lost', count: Number(lost[1]) };
  const m = LINE.exec(line)?.groups;
  if (!m || !isOurEvent(m.event!)) return { kind: 'other' };
  const f = FIELDS.exec(m.fields!);
  if (!f) return { kind: 'malformed', reason: 'unreadable trace line' };
  const label = sliceCaptured('label', f[1]!, f[2]!, LABEL_CAPTURE);
  const clientRandom = sliceCaptured('client random', f[3]!, f[4]!, RANDOM_CAPTURE);
  const secret = sliceCaptured('secret', f[5]!, f[6]!, SECRET_CAPTURE);
  for (const part of [label, clientRandom, secret]) if (typeof part === 'string') return { kind: 'malformed', reason: part };
  const usec = m.usec!.padEnd(6, '0').slice(0, 6);
  return {
    kind: 'key',
    event: {
      probe: m.event!,
      tid: Number(m.tid),
      ...(m.tgid && /^\d+$/.test(m.tgid) ? { tgid: Number(m.tgid) } : {}),
      timeNs: BigInt(m.sec!) * 1_000_000_000n + BigInt(usec) * 1000n,
      comm: f[7]!,
      label: label as Uint8Array,
      clientRandom: clientRandom as Uint8Array,
      secret: secret as Uint8Array,
    },
  };
}

/** The first `lengthText` bytes of a printed `x8[capacity]` array, or why they cannot be had. */
function sliceCaptured(what: string, arrayText: string, lengthText: string, capacity: number): Uint8Array | string {
  const length = Number(lengthText);
  const tooLong = lengthBeyondCapture(what, lengthText, capacity);
  if (tooLong) return tooLong;
  const items = arrayText.split(',');
  if (items.length !== capacity) return `${what} array has ${items.length} items, expected ${capacity}`;
  const bytes = new Uint8Array(length);
  for (let i = 0; i < length; i++) {
    const item = items[i]!;
    if (!/^0x[0-9a-f]{1,2}$/.test(item)) return `${what} byte ${JSON.stringify(item)} is not hex`;
    bytes[i] = Number.parseInt(item.slice(2), 16);
  }
  return bytes;
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
  labn: FieldLayout;
  cr: FieldLayout;
  crn: FieldLayout;
  sec: FieldLayout;
  secn: FieldLayout;
  comm: FieldLayout;
  /** The record holds at least this many bytes. */
  end: number;
}

const KEY_RECORD_FIELDS = ['common_pid', 'lab', 'labn', 'cr', 'crn', 'sec', 'secn', 'comm'] as const;
const layouts = new WeakMap<EventFormat, KeyRecordLayout | null>();

function keyRecordLayout(format: EventFormat): KeyRecordLayout | null {
  let layout = layouts.get(format);
  if (layout === undefined) {
    const fields = KEY_RECORD_FIELDS.map((name) => format.fields.get(name));
    const [pid, lab, labn, cr, crn, sec, secn, comm] = fields;
    layout = pid && lab && labn && cr && crn && sec && secn && comm
      ? { pid, lab, labn, cr, crn, sec, secn, comm, end: Math.max(...fields.map((f) => f!.offset + f!.size)) }
      : null;
    layouts.set(format, layout);
  }
  return layout;
}

const u32le = (b: Uint8Array, at: number): number => (b[at]! | (b[at + 1]! << 8) | (b[at + 2]! << 16) | (b[at + 3]! << 24)) >>> 0;

/**
 * The first `len` bytes of a captured array, as a copy (the record lives in a page buffer that the next read
 * overwrites), or why they cannot be had. The length is a u64.
 */
function cutArray(data: Uint8Array, what: string, array: FieldLayout, len: FieldLayout): Uint8Array | string {
  const low = u32le(data, len.offset);
  const high = u32le(data, len.offset + 4);
  if (high !== 0 || low > array.size) return lengthBeyondCapture(what, (BigInt(high) << 32n) | BigInt(low), array.size)!;
  const bytes = new Uint8Array(low);
  bytes.set(data.subarray(array.offset, array.offset + low));
  return bytes;
}

/**
 * Decodes one binary record of our probe (from trace_pipe_raw) with the field layout of its `format` file.
 * The thread id is common_pid; the process id is not in the record. Per key: no BigInt, no closure.
 */
export function decodeKeyRecord(data: Uint8Array, timeNs: bigint, probe: string, format: EventFormat): ProbeRecord {
  const layout = keyRecordLayout(format);
  if (!layout || layout.end > data.length) return { kind: 'malformed', reason: 'record shorter than its format' };
  const label = cutArray(data, 'label', layout.lab, layout.labn);
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
