import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { PcapngWriter } from '../../src/pcap/index.js';
import { requireOrSkip } from '../support/env.js';
import { commandExists, tsharkFields } from '../support/traffic.js';

let dir: string;
before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'gokeylog-writer-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

// The writer once sized every SHB 4 bytes too large (28 + options + 4 instead of 24 + options + 4) and left
// those 4 bytes as they were in its reused staging buffers. Where they were zero tshark read an opt_endofopt;
// where they held old packet bytes it refused the file ("Not enough data to handle option of length 20560").
// So the new sections here land in recycled buffers full of 0x50 packet bytes, and tshark is the referee.
test('section headers with and without options, written into reused buffers, read in tshark', async (t) => {
  if (!requireOrSkip(t, commandExists('tshark'), 'tshark is not installed')) return;
  for (const littleEndian of [true, false]) {
    const file = path.join(dir, `sections-${littleEndian ? 'le' : 'be'}.pcapng`);
    const out = createWriteStream(file);
    const writer = new PcapngWriter(out, { littleEndian });
    const payload = Buffer.alloc(1000, 0x50);
    const expected: string[][] = [];
    let frame = 0;
    const packet = (section: number): void => {
      writer.writePacket({ interfaceId: 0, timestampUnits: BigInt(frame), data: payload });
      expected.push([String(++frame), String(section), String(payload.length)]);
    };
    writer.writeSectionHeader();
    writer.writeInterface({ linkType: 1 });
    for (let i = 0; i < 3000; i++) {
      packet(0);
      if (i % 100 === 99) await writer.drain(); // staging buffers are written, then reused
    }
    for (let section = 1; section <= 40; section++) {
      writer.writeSectionHeader(section % 2 === 0 ? {} : { comment: 'x'.repeat(section), userAppl: 'gokeylog test' });
      writer.writeInterface({ linkType: 1 });
      packet(section);
      await writer.drain();
    }
    await writer.end();
    if (!out.closed) await once(out, 'close');
    // tshark numbers sections from 1 (the first SHB is section 1) and fails on a malformed block.
    const frames = await tsharkFields(file, { fields: ['frame.number', 'frame.section_number', 'frame.cap_len'] });
    assert.deepEqual(frames, expected.map(([n, s, len]) => [n!, String(Number(s) + 1), len!]), littleEndian ? 'LE' : 'BE');
  }
});
