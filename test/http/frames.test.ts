// HTTP/2 frame parsing edge cases, from frames built byte by byte per RFC 9113 §6.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  FrameReader, Http2Error, parseFrameHeader, parseGoaway, parseHeadersPayload, parseSettings, parseWindowUpdate,
  parseRstStream, parsePushPromise, type FrameHeader,
} from '../../src/http/frames.js';
import { http2Frame } from './build.js';

const frame = http2Frame;

function read(bytes: Buffer, pieceSize = bytes.length) {
  const frames: Array<[FrameHeader, Buffer]> = [];
  const data: Array<[number, string, boolean]> = [];
  const reader = new FrameReader({
    frame: (h, p) => frames.push([h, Buffer.from(p)]),
    data: (h, piece, last) => data.push([h.streamId, Buffer.from(piece).toString(), last]),
  });
  for (let i = 0; i < bytes.length; i += pieceSize) reader.push(bytes.subarray(i, i + pieceSize));
  return { frames, data };
}

test('frame header: 24-bit length, type, flags, reserved bit ignored in the stream id', () => {
  const h = parseFrameHeader(Buffer.from([0x01, 0x00, 0x00, 0x01, 0x25, 0x80, 0x00, 0x00, 0x03]), 0);
  assert.deepEqual(h, { length: 65536, type: 1, flags: 0x25, streamId: 3 });
  assert.throws(() => parseFrameHeader(Buffer.alloc(8), 0), Http2Error);
});

test('HEADERS with padding and priority', () => {
  // pad length 2, E bit + dependency 5, weight 15 (+1), fragment 0x82, 2 padding bytes
  const payload = Buffer.from([2, 0x80, 0, 0, 5, 15, 0x82, 0, 0]);
  const { fragment, priority } = parseHeadersPayload(payload, 0x08 | 0x20);
  assert.deepEqual([...fragment], [0x82]);
  assert.deepEqual(priority, { exclusive: true, dependsOn: 5, weight: 16 });
  assert.throws(() => parseHeadersPayload(Buffer.from([9, 0x82]), 0x08), Http2Error); // padding > payload
});

test('DATA padding is removed whatever the piece boundaries', () => {
  const bytes = Buffer.concat([frame(0, 0x08 | 0x01, 1, [3, ...Buffer.from('hello'), 0, 0, 0]), frame(0, 0, 3, Buffer.from('ab'))]);
  for (const size of [1, 3, 9, 10, 100]) {
    const { data } = read(bytes, size);
    const byStream = (id: number) => data.filter((d) => d[0] === id).map((d) => d[1]).join('');
    assert.equal(byStream(1), 'hello', `size ${size}`);
    assert.equal(byStream(3), 'ab');
    assert.equal(data.filter((d) => d[2]).length, 2);
  }
  assert.throws(() => read(frame(0, 0x08, 1, [5, 1, 2])), Http2Error);
});

test('SETTINGS, RST_STREAM, GOAWAY, WINDOW_UPDATE, PUSH_PROMISE payloads', () => {
  assert.deepEqual(parseSettings(Buffer.from([0, 1, 0, 0, 0x10, 0, 0, 4, 0, 0, 0xff, 0xff]), 0), [[1, 4096], [4, 65535]]);
  assert.deepEqual(parseSettings(Buffer.alloc(0), 1), []);
  assert.throws(() => parseSettings(Buffer.alloc(5), 0), Http2Error);
  assert.throws(() => parseSettings(Buffer.alloc(6), 1), Http2Error);
  assert.equal(parseRstStream(Buffer.from([0, 0, 0, 8])), 8);
  assert.throws(() => parseRstStream(Buffer.alloc(3)), Http2Error);
  assert.deepEqual(parseGoaway(Buffer.from([0, 0, 0, 7, 0, 0, 0, 0, 0x68, 0x69])), { lastStreamId: 7, errorCode: 0, debugData: 'hi' });
  assert.throws(() => parseGoaway(Buffer.alloc(7)), Http2Error);
  assert.equal(parseWindowUpdate(Buffer.from([0x80, 0, 0x10, 0])), 4096);
  const pp = parsePushPromise(Buffer.from([0, 0, 0, 2, 0x82]), 0);
  assert.equal(pp.promisedStreamId, 2);
  assert.deepEqual([...pp.fragment], [0x82]);
});

test('frames longer than the limit are refused before buffering', () => {
  const reader = new FrameReader({ frame: () => {}, data: () => {} }, 16384);
  assert.throws(() => reader.push(Buffer.from([0x01, 0, 0, 1, 0, 0, 0, 0, 1])), Http2Error);
});

test('zero-length frames and a frame split inside its header', () => {
  const bytes = Buffer.concat([frame(4, 1, 0, []), frame(0, 1, 1, []), frame(6, 0, 0, Buffer.alloc(8))]);
  const { frames, data } = read(bytes, 4);
  assert.deepEqual(frames.map((f) => f[0].type), [4, 6]);
  assert.deepEqual(data, [[1, '', true]]);
});
