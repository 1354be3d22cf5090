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

/**
 * Decodes one binary record of our probe (from trace_pipe_raw) with the field layout of its `format` file.
 * The thread id is common_pid; the process id is not in the record.
 */
export function decodeKeyRecord(data: Uint8Array, timeNs: bigint, probe: string, format: EventFormat): ProbeRecord {
  const field = (name: string): FieldLayout | undefined => format.fields.get(name);
  const need = ['common_pid', 'lab', 'labn', 'cr', 'crn', 'sec', 'secn', 'comm'].map(field);
  if (need.some((f) => f === undefined || f.offset + f.size > data.length)) return { kind: 'malformed', reason: 'record shorter than its format' };
  const [pid, lab, labn, cr, crn, sec, secn, comm] = need as FieldLayout[];
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const cut = (what: string, array: FieldLayout, len: FieldLayout): Uint8Array | string => {
    const length = view.getBigUint64(len.offset, true);
    // A copy: the record may live in a page buffer that the next read overwrites (Buffer.slice would share it).
    return lengthBeyondCapture(what, length, array.size) ?? Uint8Array.from(data.subarray(array.offset, array.offset + Number(length)));
  };
  const label = cut('label', lab!, labn!);
  const clientRandom = cut('client random', cr!, crn!);
  const secret = cut('secret', sec!, secn!);
  for (const part of [label, clientRandom, secret]) if (typeof part === 'string') return { kind: 'malformed', reason: part };
  // __data_loc: the low 16 bits are the string's offset in the record, the high 16 its length with the NUL.
  const loc = view.getUint32(comm!.offset, true);
  const commStart = loc & 0xffff;
  const commEnd = Math.min(data.length, commStart + (loc >>> 16));
  const commBytes = data.subarray(commStart, commEnd);
  const nul = commBytes.indexOf(0);
  return {
    kind: 'key',
    event: {
      probe,
      tid: view.getInt32(pid!.offset, true),
      timeNs,
      comm: Buffer.from(nul < 0 ? commBytes : commBytes.subarray(0, nul)).toString('latin1'),
      label: label as Uint8Array,
      clientRandom: clientRandom as Uint8Array,
      secret: secret as Uint8Array,
    },
  };
}
