import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createWriteStream, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { injectSecrets } from '../../src/inject/index.js';
import { PcapngWriter } from '../../src/pcap/index.js';
import { requireOrSkip } from '../support/env.js';
import { seededRandom } from '../support/random.js';
import { capinfos, commandExists, tsharkFields } from '../support/traffic.js';
import { dsb, epb, idb, offsetsOf, option, pcapHeader, pcapRecord, shb, spb, TLS_KEY_LOG } from '../pcap/handBuilt.js';

let dir: string;
before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'gokeylog-inject-lib-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

const KEYS = `CLIENT_RANDOM ${'ab'.repeat(32)} ${'cd'.repeat(48)}\n`;

// Our own reader never judges what inject wrote: the expected bytes are built by hand from the pcapng spec
// (handBuilt.ts; a 3 MiB packet is past what tshark reads), and tshark/capinfos read the pcap-converted files.
async function inject(input: Buffer, opts: { discardSecrets?: boolean } = {}): Promise<{ bytes: Buffer; packets: number; file: string }> {
  const inFile = path.join(dir, 'in');
  const outFile = path.join(dir, 'out.pcapng');
  await writeFile(inFile, input);
  const out = createWriteStream(outFile);
  const writer = new PcapngWriter(out);
  const summary = await injectSecrets(inFile, writer, { keyLogText: KEYS, ...opts });
  await writer.end();
  if (!out.closed) await once(out, 'close'); // the file is whole before anyone (tshark) reads it
  return { bytes: readFileSync(outFile), packets: summary.packets, file: outFile };
}

test('a multi-chunk pcapng passes through block for block, with a big block, two sections and DSBs', async () => {
  const rand = seededRandom(7);
  const oldDsb = dsb(true, TLS_KEY_LOG, Buffer.from('old keys\n'));
  const parts: Buffer[] = [shb(true), idb(true, 1, 0), idb(true, 276, 0, [option(9, Uint8Array.of(9), true)]), oldDsb];
  for (let i = 0; i < 3000; i++) {
    const size = i === 1500 ? 3 * 1024 * 1024 : 1 + rand(4000);
    parts.push(epb(true, i % 2, i, rand(2 ** 32), Buffer.alloc(size, i & 0xff), size + rand(10), i % 500 === 0 ? [option(1, `packet ${i}`, true)] : []));
  }
  parts.push(shb(false), idb(false, 113, 200), spb(false, Buffer.alloc(150, 9), 300), epb(false, 0, 1, 2, Buffer.alloc(77, 3)));
  const input = Buffer.concat(parts);
  // The bytes editcap --inject-secrets would write, built by hand: the input with one DSB of the key log right
  // after the first SHB (whose section length the builder already leaves at -1), every other block as it was
  // (the big-endian section in its own byte order, the old DSB kept).
  const newDsb = dsb(true, TLS_KEY_LOG, Buffer.from(KEYS));

  const { bytes, packets } = await inject(input);
  assert.equal(packets, 3002);
  assert.deepEqual(offsetsOf(bytes, newDsb), [parts[0]!.length]);
  assert.deepEqual(offsetsOf(bytes, oldDsb), [parts[0]!.length + newDsb.length + parts[1]!.length + parts[2]!.length]);
  assert.ok(bytes.equals(Buffer.concat([parts[0]!, newDsb, ...parts.slice(1)])));

  const discarded = await inject(input, { discardSecrets: true });
  assert.equal(discarded.packets, 3002);
  assert.deepEqual(offsetsOf(discarded.bytes, oldDsb), []);
  assert.ok(discarded.bytes.equals(Buffer.concat([parts[0]!, newDsb, ...parts.slice(1, 3), ...parts.slice(4)])));
});

for (const nano of [false, true]) {
  for (const le of [true, false]) {
    test(`a multi-chunk ${le ? 'little' : 'big'}-endian ${nano ? 'ns' : 'µs'} pcap becomes pcapng with the same packets and timestamps`, async (t) => {
      if (!requireOrSkip(t, commandExists('tshark') && commandExists('capinfos'), 'tshark or capinfos is not installed')) return;
      const rand = seededRandom(nano ? 11 : 13);
      const parts = [pcapHeader(le, nano, 276, 65535)];
      // The referees' side, from the generator and the format alone: what tshark must list for each frame
      // (interface, captured and original length, epoch time), and the bytes editcap --inject-secrets would
      // write: SHB, DSB, the IDB the pcap header describes (if_tsresol 9 for ns), one EPB per record.
      const expectedFrames: string[][] = [];
      const expectedBlocks = [shb(le), dsb(le, TLS_KEY_LOG, Buffer.from(KEYS)), idb(le, 276, 65535, nano ? [option(9, Uint8Array.of(9), le)] : [])];
      for (let i = 0; i < 2500; i++) {
        const size = 1 + rand(3000);
        const seconds = 1_700_000_000 + rand(2 ** 31);
        const fraction = rand(nano ? 1e9 : 1e6);
        const originalLength = size + rand(100);
        const data = Buffer.alloc(size, i & 0xff);
        parts.push(pcapRecord(le, seconds, fraction, data, originalLength));
        const units = BigInt(seconds) * (nano ? 1_000_000_000n : 1_000_000n) + BigInt(fraction);
        expectedBlocks.push(epb(le, 0, Number(units >> 32n), Number(units & 0xffffffffn), data, originalLength));
        expectedFrames.push(['0', String(size), String(originalLength), `${seconds}.${String(nano ? fraction : fraction * 1000).padStart(9, '0')}`]);
      }
      const { bytes, packets, file } = await inject(Buffer.concat(parts));
      assert.equal(packets, 2500);
      assert.deepEqual(await tsharkFields(file, { fields: ['frame.interface_id', 'frame.cap_len', 'frame.len', 'frame.time_epoch'] }), expectedFrames);
      const info = await capinfos(file);
      assert.match(info, new RegExp(`Number of interfaces in file: 1\\n.*\\n.*\\(210 - linux-sll2\\)\\n\\s*Capture length = 65535\\n\\s*Time precision = ${nano ? 'nanoseconds \\(9\\)' : 'microseconds \\(6\\)'}\\n`));
      assert.match(info, /Number of packets = 2500\n/);
      assert.match(info, /Number of decryption secrets in file: 1\n/);
      // Packet bytes, block lengths, padding, the DSB ahead of every packet: byte for byte.
      assert.ok(bytes.equals(Buffer.concat(expectedBlocks)));
    });
  }
}
