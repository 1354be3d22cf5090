import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseBpftraceLine } from '../../src/probe/bpftraceScript.js';
import { parseTraceLine } from '../../src/probe/tracefsEvent.js';

const bytes = (n: number, seed: number): number[] => Array.from({ length: n }, (_, i) => (seed * 31 + i * 7) & 0xff);
const hex = (b: number[]): string => Buffer.from(b).toString('hex');
/** The u64s (little-endian) of `b` padded to `capacity` bytes, as the kernel prints an x64 (`0x%Lx`). */
const u64s = (b: number[], capacity: number): string[] => {
  const padded = Buffer.alloc(capacity);
  Buffer.from(b).copy(padded);
  return Array.from({ length: capacity / 8 }, (_, i) => `0x${padded.readBigUInt64LE(i * 8).toString(16)}`);
};
/** An x64[N] array as the kernel prints it (print fmt in events/GROUP/EVENT/format: `{0x%Lx,0x%Lx,…}`). */
const array = (b: number[], capacity: number): string => `{${u64s(b, capacity).join(',')}}`;
/** The label as fetched: bytes 0–23 as `lab=` x64[3], bytes 23–30 as `labt=` x64 (the print fmt this kernel gave). */
const labelFields = (label: number[]): string => {
  const padded = [...label, ...new Array<number>(31 - label.length).fill(0)];
  return `lab=${array(padded.slice(0, 24), 24)} labt=${u64s(padded.slice(23, 31), 8)[0]}`;
};

function traceLine(opts: { comm: string; tid: number; label: string; random: number[]; secret: number[]; event?: string; ts?: string; tgid?: boolean }): string {
  const label = [...Buffer.from(opts.label, 'latin1')];
  return `${opts.comm.padStart(16)}-${opts.tid}   ${opts.tgid ? '(   77) ' : ''}[001] DBZff   ${opts.ts ?? '413.097754'}: ${opts.event ?? 'wkl0'}: (0x5ada00) ` +
    `${labelFields(label)} labn=${label.length} cr=${array(opts.random, 32)} crn=${opts.random.length} ` +
    `sec=${array(opts.secret, 48)} secn=${opts.secret.length} comm="${opts.comm}"`;
}
const ours = (e: string): boolean => e === 'wkl0';

test('trace_pipe line: bytes cut to their lengths, thread id, monotonic time, comm with dashes and blanks', () => {
  const random = bytes(32, 1);
  const secret = bytes(32, 2);
  for (const comm of ['tlsserver', 'kube-apiserver', 'my app-2', '<...>', 'x-1 (2) [3]']) {
    const r = parseTraceLine(traceLine({ comm, tid: 4242, label: 'CLIENT_TRAFFIC_SECRET_0', random, secret }), ours);
    assert.equal(r.kind, 'key');
    if (r.kind !== 'key') return;
    assert.equal(Buffer.from(r.event.label).toString('latin1'), 'CLIENT_TRAFFIC_SECRET_0');
    assert.equal(hex([...r.event.clientRandom]), hex(random));
    assert.equal(hex([...r.event.secret]), hex(secret));
    assert.equal(r.event.tid, 4242);
    assert.equal(r.event.timeNs, 413_097_754_000n);
    assert.equal(r.event.comm, comm);
  }
});

test('trace_pipe line with the record-tgid column and a 48-byte master secret', () => {
  const line = traceLine({ comm: 'etcd', tid: 9, label: 'CLIENT_RANDOM', random: bytes(32, 3), secret: bytes(48, 4), tgid: true });
  const r = parseTraceLine(line, ours);
  assert.equal(r.kind, 'key');
  if (r.kind !== 'key') return;
  assert.equal(r.event.secret.length, 48);
  assert.equal(r.event.tid, 9);
  assert.equal(r.event.tgid, 77);
  const unknown = parseTraceLine(line.replace('(   77)', '(-------)'), ours);
  assert.equal(unknown.kind === 'key' && unknown.event.tgid, undefined, 'an unrecorded process is left to /proc');
});

test('lost-events markers, other events and headers', () => {
  assert.deepEqual(parseTraceLine('CPU:1 [LOST 17 EVENTS]', ours), { kind: 'lost', count: 17 });
  assert.deepEqual(parseTraceLine('# tracer: nop', ours), { kind: 'other' });
  assert.deepEqual(parseTraceLine(traceLine({ comm: 'x', tid: 1, label: 'CLIENT_RANDOM', random: bytes(32, 1), secret: bytes(48, 1), event: 'other' }), ours), { kind: 'other' });
});

test('lengths beyond the captured arrays are malformed, never silently cut', () => {
  const line = traceLine({ comm: 'x', tid: 1, label: 'CLIENT_RANDOM', random: bytes(32, 1), secret: bytes(48, 1) });
  assert.equal(parseTraceLine(line.replace('crn=32', 'crn=64'), ours).kind, 'malformed');
  assert.equal(parseTraceLine(line.replace('secn=48', 'secn=4096'), ours).kind, 'malformed');
  assert.equal(parseTraceLine(line.replace('labn=13', 'labn=99999999999999999999'), ours).kind, 'malformed');
});

test('trace_pipe fuzz: seeded mutations never throw and never yield a key with lengths that disagree', () => {
  let state = 0x9e3779b9;
  const rand = (n: number): number => {
    state = (Math.imul(state ^ (state >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) >>> 0;
    return state % n;
  };
  const base = traceLine({ comm: 'tlsserver', tid: 77, label: 'SERVER_HANDSHAKE_TRAFFIC_SECRET', random: bytes(32, 5), secret: bytes(32, 6) });
  const alphabet = '0123456789abcdefx{},= "-[]().:';
  for (let i = 0; i < 5000; i++) {
    const chars = [...base];
    for (let k = 1 + rand(4); k > 0; k--) {
      const at = rand(chars.length);
      const op = rand(3);
      if (op === 0) chars[at] = alphabet[rand(alphabet.length)]!;
      else if (op === 1) chars.splice(at, 1);
      else chars.splice(at, 0, alphabet[rand(alphabet.length)]!);
    }
    const r = parseTraceLine(chars.join(''), ours);
    if (r.kind === 'key') {
      assert.ok(r.event.label.length <= 31 && r.event.clientRandom.length <= 32 && r.event.secret.length <= 48);
    }
  }
});

test('bpftrace line: %rx escapes decoded, pid and tid, comm with blanks last', () => {
  const random = bytes(32, 7);
  const secret = bytes(48, 8);
  const rx = (b: number[]): string => b.map((x) => `\\x${x.toString(16).padStart(2, '0')}`).join('');
  const r = parseBpftraceLine(`gokeylog 100 101 123456789 CLIENT_RANDOM ${rx(random)} ${rx(secret)} my prog`, 'wkl3');
  assert.equal(r.kind, 'key');
  if (r.kind !== 'key') return;
  assert.equal(r.event.tgid, 100);
  assert.equal(r.event.tid, 101);
  assert.equal(r.event.timeNs, 123456789n);
  assert.equal(r.event.probe, 'wkl3');
  assert.equal(r.event.comm, 'my prog');
  assert.equal(hex([...r.event.clientRandom]), hex(random));
  assert.equal(hex([...r.event.secret]), hex(secret));
  assert.deepEqual(parseBpftraceLine('Attaching 1 probe...', 'wkl3'), { kind: 'other' });
  assert.deepEqual(parseBpftraceLine('Lost 5 events', 'wkl3'), { kind: 'lost', count: 5 });
  assert.equal(parseBpftraceLine('gokeylog 1 2 3 CLIENT_RANDOM \\x0 \\x00 c', 'w').kind, 'malformed');
});
