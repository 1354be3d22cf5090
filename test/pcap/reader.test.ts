import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { after, before, test } from 'node:test';
import { LinkType } from '../../src/net/index.js';
import { forEachPacket, readCapture, readCaptureBatches, type CaptureBlock, type PacketBlock } from '../../src/pcap/index.js';
import { GokeylogError } from '../../src/util/errors.js';
import { seededRandom } from '../support/random.js';
import { block, dsb, epb, idb, obsoletePb, option, pcapHeader, pcapRecord, shb, spb, TLS_KEY_LOG } from './handBuilt.js';

let dir: string;
before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'gokeylog-pcap-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

let fileCount = 0;
async function fileOf(bytes: Buffer): Promise<string> {
  const file = path.join(dir, `f${fileCount++}`);
  await writeFile(file, bytes);
  return file;
}

async function readAll(source: string | NodeJS.ReadableStream, warnings: string[] = []): Promise<CaptureBlock[]> {
  const blocks: CaptureBlock[] = [];
  for await (const b of readCapture(source, { onWarning: (w) => warnings.push(w) })) blocks.push(b);
  return blocks;
}

const packets = (blocks: CaptureBlock[]): PacketBlock[] => blocks.filter((b): b is PacketBlock => b.kind === 'packet');
const frame = (n: number, fill: number): Buffer => Buffer.alloc(n, fill);

async function rejectsWith(source: Buffer, pattern: RegExp): Promise<void> {
  await assert.rejects(readAll(await fileOf(source)), (e: unknown) => {
    assert.ok(e instanceof GokeylogError, `expected a GokeylogError, got ${String(e)}`);
    assert.match(e.message, pattern);
    return true;
  });
}

for (const le of [true, false]) {
  for (const nano of [false, true]) {
    test(`pcap ${le ? 'little' : 'big'}-endian ${nano ? 'nanosecond' : 'microsecond'}`, async () => {
      const file = Buffer.concat([
        pcapHeader(le, nano, LinkType.LINUX_SLL2, 262144),
        pcapRecord(le, 1_700_000_000, 123_456, frame(60, 1)),
        pcapRecord(le, 1_700_000_001, 999_999, frame(33, 2), 1500),
      ]);
      const blocks = await readAll(await fileOf(file));
      assert.deepEqual(blocks.map((b) => b.kind), ['section', 'interface', 'packet', 'packet']);
      const iface = blocks[1]!;
      assert.ok(iface.kind === 'interface');
      assert.equal(iface.linkType, LinkType.LINUX_SLL2);
      assert.equal(iface.snapLength, 262144);
      assert.deepEqual(iface.tsResolution, { base: 10, exponent: nano ? 9 : 6 });
      const [p1, p2] = packets(blocks);
      assert.equal(p1!.timestamp, 1_700_000_000_000_000_000n + 123_456n * (nano ? 1n : 1000n));
      assert.equal(p1!.timestampUnits, nano ? 1_700_000_000_000_123_456n : 1_700_000_000_123_456n);
      assert.deepEqual(Buffer.from(p1!.data), frame(60, 1));
      assert.equal(p2!.originalLength, 1500);
      assert.equal(p2!.capturedLength, 33);
      assert.equal(p2!.offset, 24 + 16 + 60);
      assert.equal(p2!.raw.length, 16 + 33);
      assert.equal(p2!.linkType, LinkType.LINUX_SLL2);
    });
  }
}

test('pcapng: two sections of different byte order, interfaces with their own link type and resolution', async () => {
  const a = frame(61, 0xaa);
  const b = frame(40, 0xbb);
  const keys = Buffer.from('CLIENT_RANDOM 00 11\n');
  const file = Buffer.concat([
    shb(true, [option(4, 'hand-built', true)]),
    idb(true, LinkType.ETHERNET, 65535, [option(2, 'lo', true)]), // default resolution: microseconds
    idb(true, LinkType.RAW, 0, [option(9, Uint8Array.of(9), true)]), // nanoseconds
    dsb(true, TLS_KEY_LOG, keys),
    epb(true, 0, 0x00060a24, 0x181e4000, a, 61, [option(1, 'first comment', true), option(1, 'second', true)]),
    epb(true, 1, 0x17979cfe, 0x3d85cd15, b), // 1_700_000_000_123_456_789 ns
    block(4, Buffer.alloc(8), true), // name resolution: passed through
    block(0x0bad, Buffer.alloc(8), true), // custom: passed through
    block(0x7777, Buffer.alloc(4), true), // unknown: passed through with a warning
    shb(false),
    idb(false, LinkType.LINUX_SLL, 128, [option(9, Uint8Array.of(0x94), false), option(14, Buffer.from([0, 0, 0, 0, 0, 0, 0, 10]), false)]), // 2^-20 s, +10 s
    epb(false, 0, 0, 3 * 2 ** 20 + 2 ** 19, frame(200, 0xcc)),
    spb(false, frame(100, 0xdd), 1000), // captured length = snap length 128, not 1000
    obsoletePb(false, 0, 0, 2 ** 20, frame(20, 0xee), [option(1, 'old', false)]),
  ]);
  const warnings: string[] = [];
  const blocks = await readAll(await fileOf(file), warnings);
  assert.deepEqual(blocks.map((x) => x.kind), ['section', 'interface', 'interface', 'secrets', 'packet', 'packet', 'other', 'other', 'other', 'section', 'interface', 'packet', 'packet', 'packet']);
  assert.equal(warnings.length, 1);
  assert.match(warnings[0]!, /unknown pcapng block type 0x00007777/);

  const [s1, , , secrets] = blocks;
  assert.ok(s1!.kind === 'section' && s1!.littleEndian && s1!.format === 'pcapng');
  assert.deepEqual(s1.options.map((o) => [o.code, Buffer.from(o.value).toString()]), [[4, 'hand-built']]);
  assert.ok(secrets!.kind === 'secrets');
  assert.equal(secrets.secretsType, TLS_KEY_LOG);
  assert.deepEqual(Buffer.from(secrets.data), keys);
  const s2 = blocks[9]!;
  assert.ok(s2.kind === 'section' && !s2.littleEndian);

  const [p1, p2, p3, p4, p5] = packets(blocks);
  // 0x00060a24_181e4000 µs = 1_700_000_000_000_000 µs
  assert.equal(p1!.timestamp, 1_700_000_000_000_000_000n);
  assert.deepEqual(p1!.comments, ['first comment', 'second']);
  assert.equal(p1!.interface.name, 'lo');
  assert.equal(p1!.linkType, LinkType.ETHERNET);
  assert.deepEqual(Buffer.from(p1!.data), a);
  assert.equal(p2!.timestamp, 1_700_000_000_123_456_789n);
  assert.equal(p2!.linkType, LinkType.RAW);
  assert.equal(p2!.comments, undefined);
  assert.equal(p3!.timestamp, 13_500_000_000n); // 3.5 s in 2^-20 units, plus if_tsoffset 10 s
  assert.equal(p3!.linkType, LinkType.LINUX_SLL);
  assert.deepEqual(Buffer.from(p3!.data), frame(200, 0xcc)); // the snap length does not cut what was stored
  assert.equal(p4!.blockType, 3);
  assert.equal(p4!.capturedLength, 100); // min(original 1000, block data 100, snap 128)
  assert.equal(p4!.originalLength, 1000);
  assert.equal(p5!.blockType, 2);
  assert.equal(p5!.timestamp, 11_000_000_000n);
  assert.deepEqual(p5!.comments, ['old']);
  // raw blocks are the exact bytes of the file
  assert.deepEqual(Buffer.from(p5!.raw), file.subarray(p5!.offset, p5!.offset + p5!.raw.length));
});

test('blocks spanning chunk boundaries, a block larger than a chunk, and stream input give the same result', async () => {
  const le = true;
  const parts = [shb(le), idb(le, LinkType.ETHERNET, 0)];
  const rand = seededRandom(42);
  const sizes: number[] = [];
  let total = 0;
  while (total < 9 * 1024 * 1024) {
    const n = sizes.length === 20 ? 6 * 1024 * 1024 : 1 + rand(3000); // one packet bigger than a read chunk
    sizes.push(n);
    parts.push(epb(le, 0, 0, sizes.length, frame(n, sizes.length & 0xff)));
    total += n;
  }
  const file = Buffer.concat(parts);
  const path = await fileOf(file);
  const seen: number[] = [];
  await forEachPacket(path, (p) => {
    assert.equal(p.data[0], p.timestampUnits === 0n ? 0 : Number(p.timestampUnits) & 0xff);
    assert.equal(p.data[p.data.length - 1], Number(p.timestampUnits) & 0xff);
    seen.push(p.capturedLength);
  });
  assert.deepEqual(seen, sizes);

  // The same bytes as a stream of odd-sized pieces.
  const pieces: Buffer[] = [];
  for (let at = 0; at < file.length; ) {
    const n = 1 + rand(200_000);
    pieces.push(file.subarray(at, at + n));
    at += n;
  }
  const fromStream = packets(await readAll(Readable.from(pieces)));
  assert.deepEqual(fromStream.map((p) => p.capturedLength), sizes);
  assert.deepEqual(fromStream.map((p) => p.offset), packets(await readAll(path)).map((p) => p.offset));
});

test('bad input: a clear error with the byte offset', async () => {
  const good = Buffer.concat([shb(true), idb(true, 1, 0), epb(true, 0, 0, 0, frame(60, 1)), epb(true, 0, 0, 0, frame(60, 2))]);
  const secondEpb = good.length - (28 + 60 + 4);
  await rejectsWith(Buffer.alloc(0), /is empty/);
  await rejectsWith(Buffer.from('GIF89a..........................'), /is not a pcap or pcapng file \(magic 0x47494638 at byte offset 0\)/);
  await rejectsWith(Buffer.from([0xd4, 0xc3]), /too short to be a capture/);
  await rejectsWith(pcapHeader(true, false, 1).subarray(0, 20), /truncated: the file header at byte offset 0 needs 24 bytes but only 20 remain/);
  await rejectsWith(good.subarray(0, good.length - 10), new RegExp(`truncated: the block at byte offset ${secondEpb} needs 92 bytes but only 82 remain`));
  await rejectsWith(good.subarray(0, secondEpb + 6), new RegExp(`truncated: the block at byte offset ${secondEpb} needs 12 bytes but only 6 remain`));
  const pcap = Buffer.concat([pcapHeader(true, false, 1), pcapRecord(true, 1, 2, frame(50, 3))]);
  await rejectsWith(pcap.subarray(0, pcap.length - 1), /truncated: the record at byte offset 24 needs 66 bytes but only 65 remain/);

  const badLength = Buffer.from(good);
  badLength.writeUInt32LE(90, secondEpb + 4);
  await rejectsWith(badLength, new RegExp(`block at byte offset ${secondEpb} has length 90 \\(must be a multiple of 4`));
  const hugeLength = Buffer.from(good);
  hugeLength.writeUInt32LE(0xfffffff0, secondEpb + 4);
  await rejectsWith(hugeLength, new RegExp(`block at byte offset ${secondEpb} has length 4294967280`));
  const pastEnd = Buffer.from(good);
  pastEnd.writeUInt32LE(4096, secondEpb + 4);
  await rejectsWith(pastEnd, new RegExp(`truncated: the block at byte offset ${secondEpb} needs 4096 bytes but only 92 remain`));
  const badTrailer = Buffer.from(good);
  badTrailer.writeUInt32LE(96, good.length - 4);
  await rejectsWith(badTrailer, new RegExp(`block at byte offset ${secondEpb} has length 92 but its trailing length says 96`));
  const capturedTooLong = Buffer.from(good);
  capturedTooLong.writeUInt32LE(70, secondEpb + 20);
  await rejectsWith(capturedTooLong, new RegExp(`packet at byte offset ${secondEpb} claims 70 captured bytes but its block holds 60`));
  const badInterface = Buffer.from(good);
  badInterface.writeUInt32LE(3, secondEpb + 8);
  await rejectsWith(badInterface, new RegExp(`packet at byte offset ${secondEpb} refers to interface 3, but its section describes 1`));
  const badBom = Buffer.from(good);
  badBom.writeUInt32LE(0x12345678, 8);
  await rejectsWith(badBom, /section header at byte offset 0 has no valid byte-order magic/);
  await rejectsWith(Buffer.concat([pcapHeader(false, true, 1), Buffer.from([0, 0, 0, 1, 0, 0, 0, 2, 0x7f, 0xff, 0xff, 0xff, 0, 0, 0, 0])]), /record at byte offset 24 claims 2147483647 captured bytes/);
});

test('a stream claiming a huge block fails at once instead of waiting for or allocating it', async () => {
  const head = Buffer.concat([shb(true), idb(true, 1, 0)]);
  const claim = Buffer.concat([Buffer.from([6, 0, 0, 0]), Buffer.from([0xf0, 0xff, 0xff, 0x7f]), Buffer.alloc(40)]);
  await assert.rejects(readAll(Readable.from([head, claim])), /has length 2147483632/);
  // A plausible length in a stream that then ends: truncated, with the offset.
  const plausible = Buffer.concat([Buffer.from([6, 0, 0, 0]), Buffer.from([0x00, 0x00, 0x10, 0x00]), Buffer.alloc(40)]);
  await assert.rejects(readAll(Readable.from([head, plausible])), new RegExp(`the block at byte offset ${head.length} needs 1048576 bytes but only 48 remain`));
});

test('fuzz: truncations and bit flips give blocks or a GokeylogError, never another exception', async () => {
  const base = Buffer.concat([
    shb(true, [option(1, 'c', true)]),
    idb(true, 1, 100, [option(9, Uint8Array.of(0x86), true)]),
    dsb(true, TLS_KEY_LOG, Buffer.from('x')),
    epb(true, 0, 1, 2, frame(70, 1), 80, [option(1, 'comment', true)]),
    spb(true, frame(30, 2)),
    obsoletePb(true, 0, 3, 4, frame(10, 3)),
    shb(false),
    idb(false, 113, 0),
    epb(false, 0, 5, 6, frame(90, 4)),
  ]);
  const pcap = Buffer.concat([pcapHeader(false, true, 276), pcapRecord(false, 1, 2, frame(40, 5)), pcapRecord(false, 3, 4, frame(41, 6))]);
  const rand = seededRandom(0xc0ffee);
  for (let i = 0; i < 600; i++) {
    const src = i % 3 === 0 ? pcap : base;
    const m = Buffer.from(src.subarray(0, rand(4) === 0 ? rand(src.length + 1) : src.length));
    for (let k = 1 + rand(4); k > 0 && m.length > 0; k--) m[rand(m.length)] ^= 1 << rand(8);
    const bytes = i % 2 === 0 ? m : Buffer.concat([m, m.subarray(rand(m.length + 1))]);
    try {
      for (const b of await readAll(Readable.from([bytes]))) {
        if (b.kind === 'packet') {
          assert.ok(b.data.length <= bytes.length);
          void b.timestamp;
          void b.comments;
        }
      }
    } catch (e) {
      assert.ok(e instanceof GokeylogError, `mutation ${i}: ${(e as Error).stack}`);
    }
  }
});

test('a live stream is parsed as it arrives, not a chunk at a time', { timeout: 20_000 }, async () => {
  const live = new PassThrough();
  const batches = readCaptureBatches(live)[Symbol.asyncIterator]();
  const first = epb(true, 0, 0, 1, frame(100, 1));
  live.write(Buffer.concat([shb(true), idb(true, 1, 0), first.subarray(0, 50)]));
  const head = await batches.next(); // a reader waiting for a full chunk would wait here forever
  assert.deepEqual(head.value?.map((b: CaptureBlock) => b.kind), ['section', 'interface']);
  live.write(first.subarray(50));
  const packet = await batches.next();
  assert.deepEqual(packet.value?.map((b: CaptureBlock) => b.kind), ['packet']);
  live.end(epb(true, 0, 0, 2, frame(10, 2)));
  const last = await batches.next();
  assert.equal(last.value?.length, 1);
  assert.equal((await batches.next()).done, true);
});

test('a truncated end can be tolerated, as for a live capture stopped mid-write', async () => {
  const whole = Buffer.concat([pcapHeader(true, false, 1), pcapRecord(true, 1, 2, frame(50, 3)), pcapRecord(true, 3, 4, frame(40, 4))]);
  const leftovers: number[] = [];
  const blocks: CaptureBlock[] = [];
  for await (const b of readCapture(Readable.from([whole.subarray(0, whole.length - 5)]), { onTruncatedEnd: (n) => leftovers.push(n) })) blocks.push(b);
  assert.equal(packets(blocks).length, 1);
  assert.deepEqual(leftovers, [16 + 40 - 5]);
  // Still an error when nothing recognisable came at all.
  const tolerant = async (): Promise<void> => {
    for await (const b of readCapture(Readable.from([Buffer.from('xy')]), { onTruncatedEnd: () => undefined })) void b;
  };
  await assert.rejects(tolerant(), /too short to be a capture/);
  // A live source that ended before writing anything is no capture, not an error.
  const none: CaptureBlock[] = [];
  for await (const b of readCapture(Readable.from([]), { onTruncatedEnd: () => assert.fail('nothing was truncated') })) none.push(b);
  assert.deepEqual(none, []);
  await assert.rejects(async () => {
    for await (const b of readCapture(Readable.from([]))) void b;
  }, /is empty/);
});
