/**
 * Where the first whole TLS 1.3 record begins in a byte stream joined in the middle of a connection.
 * After the handshake every TLS 1.3 record has the header 17 03 03 LL LL with 17 ≤ LL ≤ 2^14 + 256
 * (RFC 8446 §5.2: one inner type byte and a 16-byte tag at least): three such headers in a row, each one
 * record after the last, propose the boundary (a false one: ~2^-72 per offset); the AEAD verification of
 * the records that follow is the proof (src/tls/midstream.ts).
 */
import { findUnitStart, type ResyncSearch, type UnitFraming } from '../util/resync.js';
import { ContentType } from './records.js';

const HEADER = 5;
/** Smallest protected TLS 1.3 record body: the inner content type and the tag. */
const MIN_BODY = 1 + 16;
/** Largest TLS 1.3 ciphertext body (RFC 8446 §5.2). */
const MAX_TLS13_BODY = 16384 + 256;

const TLS13_RECORDS: UnitFraming = {
  headerLength: HEADER,
  unitLength: (b, at) => {
    if (b[at] !== ContentType.APPLICATION_DATA || b[at + 1] !== 3 || b[at + 2] !== 3) return null;
    const length = (b[at + 3]! << 8) | b[at + 4]!;
    return length >= MIN_BODY && length <= MAX_TLS13_BODY ? HEADER + length : null;
  },
  maxScan: HEADER + MAX_TLS13_BODY,
  chain: 3,
};

/** A record starts within the first record's length from wherever the capture joined. */
export const MAX_BOUNDARY_SCAN = TLS13_RECORDS.maxScan;

/** The first whole TLS 1.3 record in the start of one direction's captured stream; `final` once it ended. */
export function findRecordBoundary(bytes: Uint8Array, final: boolean): ResyncSearch {
  return findUnitStart(bytes, final, TLS13_RECORDS);
}
