/**
 * Finding where the first whole unit (TLS record, HTTP/2 frame) starts in a stream joined in the middle:
 * the first offset from which a chain of plausible headers, each one unit length after the last, runs on.
 * A false start needs several random headers in a row to look right; whatever is built on the offset
 * verifies it further (AEAD tags for TLS, HPACK and frame rules for HTTP/2).
 */

export interface UnitFraming {
  headerLength: number;
  /** The whole unit's length (header included) if a plausible header starts at `at`, else null. */
  unitLength(bytes: Uint8Array, at: number): number | null;
  /** A unit starts within this many bytes of wherever the stream was joined (the largest unit). */
  maxScan: number;
  /** Consecutive headers that make a start certain enough. */
  chain: number;
}

export type ResyncSearch =
  /** The first whole unit starts at `offset`. */
  | { kind: 'found'; offset: number }
  /** Not decidable from these bytes: feed more (or call with `final` once the stream ended). */
  | { kind: 'more' }
  /** No unit starts within `maxScan` bytes. */
  | { kind: 'none' };

/**
 * Searches the start of a stream. `final`: no more bytes will come, so a chain that ends exactly at the
 * end of the stream counts, however short.
 */
export function findUnitStart(bytes: Uint8Array, final: boolean, framing: UnitFraming): ResyncSearch {
  const limit = Math.min(bytes.length, framing.maxScan);
  for (let offset = 0; offset < limit; offset++) {
    const { complete, end } = chainFrom(bytes, offset, framing);
    if (end === 'broken') continue;
    if (end === 'long') return { kind: 'found', offset };
    // Consistent so far but out of bytes: a later offset must not win over this one — unless the stream
    // is over, when whole units that end exactly at its end are all the evidence there will be (a chain
    // that ends inside a unit is not: one plausible header followed by anything looks like that).
    if (!final) return { kind: 'more' };
    if (complete > 0 && end === 'exact end') return { kind: 'found', offset };
  }
  return final || bytes.length >= framing.maxScan ? { kind: 'none' } : { kind: 'more' };
}

/** How far a chain of headers from `offset` goes: complete units, and why it stopped. */
function chainFrom(bytes: Uint8Array, offset: number, framing: UnitFraming): { complete: number; end: 'broken' | 'long' | 'exact end' | 'out of bytes' } {
  let at = offset;
  for (let n = 0; n < framing.chain; n++) {
    if (at === bytes.length) return { complete: n, end: 'exact end' };
    if (bytes.length - at < framing.headerLength) return { complete: n, end: 'out of bytes' };
    const length = framing.unitLength(bytes, at);
    if (length === null) return { complete: n, end: 'broken' };
    at += length;
    if (at > bytes.length) return { complete: n, end: 'out of bytes' };
  }
  return { complete: framing.chain, end: 'long' };
}
