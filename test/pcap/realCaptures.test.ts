import assert from 'node:assert/strict';
import { createWriteStream } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { before, test } from 'node:test';
import { readKeyLogFiles } from '../../src/keylog/index.js';
import { PcapngWriter, forEachPacket, readCapture, type CaptureBlock } from '../../src/pcap/index.js';
import { requireOrSkip } from '../support/env.js';
import { tsharkFields } from '../support/traffic.js';
import { dsb, offsetsOf, sectionLittleEndian, TLS_KEY_LOG } from './handBuilt.js';
import { mergedKeyLog, realTrafficUnavailable, recordTraffic, tsharkHeaders, type RecordedTraffic } from './realTraffic.js';

const unavailable = realTrafficUnavailable();
let traffic: RecordedTraffic | undefined;
before(async () => {
  if (!unavailable) traffic = await recordTraffic();
});

/** tshark's frame list: captured length, original length, epoch time with 9 decimals. */
async function tsharkFrames(file: string): Promise<string[]> {
  const rows = await tsharkFields(file, { fields: ['frame.cap_len', 'frame.len', 'frame.time_epoch'] });
  return rows.map((r) => r.join(' '));
}

function epoch(ns: bigint): string {
  return `${ns / 1_000_000_000n}.${(ns % 1_000_000_000n).toString().padStart(9, '0')}`;
}

test('real captures of every kind read as tshark reads them', async (t) => {
  if (!requireOrSkip(t, !unavailable, unavailable ?? '')) return;
  for (const capture of traffic!.captures) {
    const blocks: CaptureBlock[] = [];
    for await (const b of readCapture(capture.file)) blocks.push(b);
    const section = blocks.find((b) => b.kind === 'section');
    assert.equal(section?.format, capture.format, capture.name);
    const ours: string[] = [];
    for (const b of blocks) {
      if (b.kind !== 'packet') continue;
      assert.equal(b.linkType, capture.linkType, capture.name);
      assert.deepEqual(b.interface.tsResolution, { base: 10, exponent: capture.nano ? 9 : 6 });
      ours.push(`${b.capturedLength} ${b.originalLength} ${epoch(b.timestamp)}`);
    }
    const theirs = await tsharkFrames(capture.file);
    assert.ok(theirs.length >= 20, `${capture.name}: only ${theirs.length} frames captured`);
    assert.deepEqual(ours, theirs, capture.name);
    if (capture.nano) assert.ok(ours.some((line) => !line.endsWith('000')), 'nanosecond capture without nanosecond digits');
  }
});

test('the writer produces pcapng that tshark reads frame for frame, with comments, and decrypts with its DSB', async (t) => {
  if (!requireOrSkip(t, !unavailable, unavailable ?? '')) return;
  const dir = await mkdtemp(path.join(os.tmpdir(), 'gokeylog-writer-'));
  try {
    const keyLog = await readKeyLogFiles(traffic!.keyLogs);
    const merged = await mergedKeyLog(traffic!, dir);
    for (const capture of traffic!.captures) {
      for (const littleEndian of [true, false]) {
        const out = path.join(dir, `${path.basename(capture.file)}-${littleEndian ? 'le' : 'be'}.pcapng`);
        const writer = new PcapngWriter(createWriteStream(out, { mode: 0o600 }), { littleEndian });
        writer.writeSectionHeader({ userAppl: 'gokeylog test' });
        writer.writeSecrets(Buffer.from(keyLog.toText()));
        let n = 0;
        let interfaces = 0;
        for await (const b of readCapture(capture.file)) {
          if (b.kind === 'interface') {
            writer.writeInterface({ linkType: b.linkType, snapLength: b.snapLength, tsResolution: b.tsResolution, name: `if${interfaces++}` });
          } else if (b.kind === 'packet') {
            n++;
            writer.writePacket({ interfaceId: b.interfaceId, timestampUnits: b.timestampUnits, data: b.data, originalLength: b.originalLength, comments: n === 2 ? ['second frame', 'ünïcode'] : undefined });
          }
          await writer.drain();
        }
        await writer.end();
        // The DSB as the spec lays it out, built by hand, right after the SHB, in the section's byte order.
        const bytes = await readFile(out);
        assert.equal(sectionLittleEndian(bytes), littleEndian);
        const shbLength = littleEndian ? bytes.readUInt32LE(4) : bytes.readUInt32BE(4);
        assert.deepEqual(offsetsOf(bytes, dsb(littleEndian, TLS_KEY_LOG, Buffer.from(keyLog.toText()))), [shbLength]);
        assert.deepEqual(await tsharkFrames(out), await tsharkFrames(capture.file), `${capture.name} ${littleEndian ? 'LE' : 'BE'}`);
        const comments = await tsharkFields(out, { filter: 'frame.comment', fields: ['frame.number', 'frame.comment'] });
        assert.deepEqual(comments, [['2', 'second frame,ünïcode']]);
        const headers = await tsharkHeaders(out, traffic!.port);
        assert.ok(headers.length > 0, `${capture.name}: nothing decrypted`);
        assert.deepEqual(headers, await tsharkHeaders(capture.file, traffic!.port, merged), capture.name);
      }
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('forEachPacket sees the same packets as readCapture', async (t) => {
  if (!requireOrSkip(t, !unavailable, unavailable ?? '')) return;
  for (const capture of traffic!.captures) {
    const a: bigint[] = [];
    await forEachPacket(capture.file, (p) => a.push(p.timestamp));
    const b: bigint[] = [];
    for await (const block of readCapture(capture.file)) if (block.kind === 'packet') b.push(block.timestamp);
    assert.deepEqual(a, b);
  }
});
