/**
 * Where the first whole HTTP/2 frame begins in a connection's plaintext joined in the middle (TLS records
 * and frames need not start together). A frame header is plausible when its type is one of RFC 9113's,
 * its flags are those the type defines, the stream id is 0 exactly for connection frames, the reserved bit
 * is clear, and fixed-size frames have their size; three in a row, each one frame after the last, make
 * the boundary. Extension frame types are not accepted as a start (they are skipped once in sync), nor
 * empty frames that no sender writes.
 */
import { findUnitStart, type ResyncSearch, type UnitFraming } from '../util/resync.js';
import { FRAME_HEADER_LENGTH, FrameType } from './frames.js';

/** Frames longer than this do not count as a start (2^20: Go's MaxReadFrameSize default, the largest in use). */
const MAX_RESYNC_FRAME = 1 << 20;

/** Per type: allowed flag bits, whether the stream id must be 0, a fixed length (-1: any). */
const RULES: Record<number, { flags: number; connection: boolean | null; length: (n: number, flags: number) => boolean }> = {
  [FrameType.DATA]: { flags: 0x09, connection: false, length: () => true },
  [FrameType.HEADERS]: { flags: 0x2d, connection: false, length: () => true },
  [FrameType.PRIORITY]: { flags: 0, connection: false, length: (n) => n === 5 },
  [FrameType.RST_STREAM]: { flags: 0, connection: false, length: (n) => n === 4 },
  [FrameType.SETTINGS]: { flags: 0x01, connection: true, length: (n, flags) => (flags & 1 ? n === 0 : n % 6 === 0) },
  // PUSH_PROMISE is not a start: clients (Go's, kubectl's) turn push off, and its header fits any bytes.
  [FrameType.PUSH_PROMISE]: { flags: 0x0c, connection: false, length: () => false },
  [FrameType.PING]: { flags: 0x01, connection: true, length: (n) => n === 8 },
  [FrameType.GOAWAY]: { flags: 0, connection: true, length: (n) => n >= 8 },
  [FrameType.WINDOW_UPDATE]: { flags: 0, connection: null, length: (n) => n === 4 },
  [FrameType.CONTINUATION]: { flags: 0x04, connection: false, length: () => true },
};

const HTTP2_FRAMES: UnitFraming = {
  headerLength: FRAME_HEADER_LENGTH,
  unitLength: (b, at) => {
    const length = (b[at]! << 16) | (b[at + 1]! << 8) | b[at + 2]!;
    const type = b[at + 3]!;
    const rule = RULES[type];
    const flags = b[at + 4]!;
    if (!rule || length > MAX_RESYNC_FRAME || (flags & ~rule.flags) !== 0 || !rule.length(length, flags)) return null;
    // Runs of zeros (padding, counters) read as empty frames: an empty frame counts only where senders
    // really write one — SETTINGS (ACK), and DATA or HEADERS that end a stream.
    if (length === 0 && !(type === FrameType.SETTINGS || ((type === FrameType.DATA || type === FrameType.HEADERS) && flags & 0x1))) return null;
    if (b[at + 5]! & 0x80) return null; // reserved bit
    const streamId = ((b[at + 5]! & 0x7f) << 24) | (b[at + 6]! << 16) | (b[at + 7]! << 8) | b[at + 8]!;
    if (rule.connection !== null && rule.connection !== (streamId === 0)) return null;
    return FRAME_HEADER_LENGTH + length;
  },
  maxScan: FRAME_HEADER_LENGTH + MAX_RESYNC_FRAME,
  chain: 3,
};

/** The first whole HTTP/2 frame in the start of one direction's plaintext; `final` once it ended. */
export function findFrameBoundary(bytes: Uint8Array, final: boolean): ResyncSearch {
  return findUnitStart(bytes, final, HTTP2_FRAMES);
}

/** Whether a direction's first decrypted bytes of a connection joined mid-stream read as HTTP/2 frames. */
export function looksLikeHttp2Frames(bytes: Uint8Array, final: boolean): boolean | null {
  const found = findFrameBoundary(bytes, final);
  return found.kind === 'more' ? null : found.kind === 'found';
}
