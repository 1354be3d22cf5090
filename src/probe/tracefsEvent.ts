import type { ProbeRecord } from './events.js';
import { LABEL_CAPTURE, RANDOM_CAPTURE, SECRET_CAPTURE } from './fetchArgs.js';

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
  // A length beyond what was captured cannot be a key log value; it must not be silently cut to fit.
  if (!Number.isSafeInteger(length) || length > capacity) return `${what} length ${lengthText} exceeds ${capacity}`;
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
