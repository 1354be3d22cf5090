import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeRingBufferPage, parseEventFormat } from '../../src/probe/ringBuffer.js';
import { decodeKeyRecord } from '../../src/probe/tracefsEvent.js';
import { seededRandom } from '../support/random.js';

// Pages are built here from the layout the kernel documents in tracefs events/header_page (u64 timestamp,
// local_t commit, data) and events/header_event (u32 type_len:5 | time_delta:27, then array[]).
class PageBuilder {
  readonly #parts: Buffer[] = [];
  header(typeLen: number, delta: number, ...array: number[]): this {
    const b = Buffer.alloc(4 + 4 * array.length);
    b.writeUInt32LE(((delta << 5) | typeLen) >>> 0, 0);
    array.forEach((v, i) => b.writeUInt32LE(v, 4 + 4 * i));
    this.#parts.push(b);
    return this;
  }
  /** A data record: small ones encode their length in type_len, larger ones (or `long`) in array[0]. */
  data(delta: number, payload: Buffer, long = false): this {
    const padded = Buffer.concat([payload, Buffer.alloc((4 - (payload.length % 4)) % 4)]);
    if (!long && padded.length <= 28 * 4) this.header(padded.length / 4, delta);
    else this.header(0, delta, padded.length + 4);
    this.#parts.push(padded);
    return this;
  }
  build(timestamp: bigint, opts: { missed?: number; pageSize?: number } = {}): Buffer {
    const data = Buffer.concat(this.#parts);
    const page = Buffer.alloc(opts.pageSize ?? 16 + data.length + 8);
    page.writeBigUInt64LE(timestamp, 0);
    let commit = data.length;
    if (opts.missed !== undefined) commit |= (1 << 31) | (1 << 30);
    page.writeUInt32LE(commit >>> 0, 8);
    data.copy(page, 16);
    if (opts.missed !== undefined) page.writeBigUInt64LE(BigInt(opts.missed), 16 + data.length);
    return page;
  }
}

test('ring-buffer page: deltas, time extends, discarded events, large records, missed events', () => {
  const small = Buffer.from('abcdefgh');
  const large = Buffer.alloc(200, 7);
  const page = new PageBuilder()
    .data(100, small)
    .header(30, 5, 2) // time extend: (2 << 27) + 5
    .data(1, large, true)
    .header(29, 3, 16).header(0, 0, 0, 0) // a discarded event: 4 + array[0] = 20 bytes in all
    .data(7, small)
    .build(1_000_000n, { missed: 42 });
  const r = decodeRingBufferPage(page);
  assert.equal(r.error, undefined);
  assert.equal(r.missed, 42);
  assert.deepEqual(r.records.map((x) => x.timeNs), [1_000_100n, 1_000_100n + (2n << 27n) + 5n + 1n, 1_000_100n + (2n << 27n) + 5n + 1n + 7n]);
  assert.deepEqual(Buffer.from(r.records[0]!.data), small);
  assert.deepEqual(Buffer.from(r.records[1]!.data), large);
});

test('ring-buffer page: an absolute time stamp keeps the running top bits; null padding ends the page', () => {
  const start = (1n << 60n) + 10n;
  const page = new PageBuilder().header(31, 0, 4).data(0, Buffer.from('zz')).header(29, 0).build(start, { pageSize: 4096 });
  const r = decodeRingBufferPage(page);
  assert.equal(r.records.length, 1);
  assert.equal(r.records[0]!.timeNs, (1n << 60n) | (4n << 27n));
});

test('ring-buffer page fuzz: seeded mutations never throw nor read outside the page', () => {
  const rand = seededRandom(12345);
  const base = new PageBuilder().data(3, Buffer.alloc(150, 1)).header(30, 1, 1).data(9, Buffer.alloc(20, 2)).build(77n, { pageSize: 512 });
  for (let i = 0; i < 5000; i++) {
    const page = Buffer.from(base);
    for (let k = 1 + rand(6); k > 0; k--) page[rand(64)] = rand(256);
    const r = decodeRingBufferPage(page.subarray(0, 16 + rand(page.length - 16)));
    for (const rec of r.records) assert.ok(rec.data.byteOffset + rec.data.length <= page.byteOffset + page.length);
  }
});

// The format file of a probe defined as tracefsFetchArgs() defines it, as this kernel printed it.
const FORMAT = `name: wkl0
ID: 2400
format:
\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;
\tfield:unsigned char common_flags;\toffset:2;\tsize:1;\tsigned:0;
\tfield:unsigned char common_preempt_count;\toffset:3;\tsize:1;\tsigned:0;
\tfield:int common_pid;\toffset:4;\tsize:4;\tsigned:1;

\tfield:unsigned long __probe_ip;\toffset:8;\tsize:8;\tsigned:0;
\tfield:u64 lab[];\toffset:16;\tsize:24;\tsigned:0;
\tfield:u64 labt;\toffset:40;\tsize:8;\tsigned:0;
\tfield:u64 labn;\toffset:48;\tsize:8;\tsigned:0;
\tfield:u64 cr[];\toffset:56;\tsize:32;\tsigned:0;
\tfield:u64 crn;\toffset:88;\tsize:8;\tsigned:0;
\tfield:u64 sec[];\toffset:96;\tsize:48;\tsigned:0;
\tfield:u64 secn;\toffset:144;\tsize:8;\tsigned:0;
\tfield:__data_loc char[] comm;\toffset:152;\tsize:4;\tsigned:1;
`;

test('binary key record decoded with its format: lengths cut the arrays, comm from its __data_loc', () => {
  const format = parseEventFormat(FORMAT);
  assert.equal(format.id, 2400);
  assert.deepEqual(format.fields.get('sec'), { offset: 96, size: 48 });
  const rec = Buffer.alloc(168);
  rec.writeUInt16LE(2400, 0);
  rec.writeInt32LE(4242, 4);
  // The label as the probe fetches it: bytes 0–23 in lab, bytes 23–30 in labt.
  const label = Buffer.from('SERVER_HANDSHAKE_TRAFFIC_SECRET', 'latin1');
  label.copy(rec, 16, 0, 24);
  label.copy(rec, 40, 23, 31);
  rec.writeBigUInt64LE(31n, 48);
  for (let i = 0; i < 32; i++) rec[56 + i] = i;
  rec.writeBigUInt64LE(32n, 88);
  for (let i = 0; i < 48; i++) rec[96 + i] = 0xa0 + (i % 16);
  rec.writeBigUInt64LE(48n, 144);
  rec.writeUInt32LE((10 << 16) | 156, 152);
  rec.write('tlsserver\0', 156, 'latin1');
  const r = decodeKeyRecord(rec, 99n, 'wkl0', format);
  assert.equal(r.kind, 'key');
  if (r.kind !== 'key') return;
  assert.equal(Buffer.from(r.event.label).toString('latin1'), 'SERVER_HANDSHAKE_TRAFFIC_SECRET');
  assert.equal(r.event.clientRandom.length, 32);
  assert.equal(r.event.clientRandom[31], 31);
  assert.equal(r.event.secret.length, 48);
  assert.equal(r.event.tid, 4242);
  assert.equal(r.event.comm, 'tlsserver');
  assert.equal(r.event.timeNs, 99n);
  rec.fill(0, 16, 152);
  assert.equal(r.event.clientRandom[31], 31, 'the key owns its bytes: the page buffer is reused by the next read');
  assert.equal(Buffer.from(r.event.label).toString('latin1'), 'SERVER_HANDSHAKE_TRAFFIC_SECRET', 'the label too');
  rec.writeBigUInt64LE(64n, 88);
  assert.equal(decodeKeyRecord(rec, 99n, 'wkl0', format).kind, 'malformed', 'a random longer than captured is not cut to fit');
  assert.equal(decodeKeyRecord(rec.subarray(0, 100), 99n, 'wkl0', format).kind, 'malformed');
});
