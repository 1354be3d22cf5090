/**
 * TLS 1.3 decryption of a connection whose handshake is not in the capture, from traffic secrets read in
 * the live process (src/keylog/midstream.ts lines) — a StreamConsumer like TlsConnection.
 *
 * Per direction: (1) find where the first whole record starts (the capture joined inside one:
 * recordBoundary.ts); (2) hold whole records until one arrives that was captured after its key was read;
 * (3) align: find the sequence number at which that record authenticates, starting at the key's `seq` and
 * moving outwards at most MAX_SEQ_DISTANCE — nothing is accepted that the AEAD tag did not verify, and a key
 * that verifies nowhere in that window gives its reason; (4) walk back over the held records with the same
 * key, so what was captured before the key was read is decrypted too when no KeyUpdate lies between;
 * (5) decrypt on, following KeyUpdate (RFC 8446 §7.2).
 */
import type { ConnectionEnd, Direction, StreamConsumer } from '../net/index.js';
import { describeAlert } from './alerts.js';
import { HandshakeType } from './handshake.js';
import { nextTrafficSecret, trafficKeys, HASH_LENGTH } from './keys.js';
import { Tls13Decryptor, type OpenedRecord } from './protection.js';
import { findRecordBoundary, MAX_BOUNDARY_SCAN } from './recordBoundary.js';
import { ContentType, HandshakeAssembler, RecordSplitter, type TlsRecord } from './records.js';
import { cipherSuiteName, findCipherSuite, KEY_LENGTH, type CipherSuite } from './suites.js';
import type { HandshakeInfo, MidstreamAlignment, MidstreamKey, TlsFailureReason, TlsResult, TlsSink } from './types.js';

/** How far from the logged sequence number alignment looks, each way (AEAD opens per key: 2 × this + 1). */
export const MAX_SEQ_DISTANCE = 4096;
/** Records (and their bytes) held per direction until one captured after the key was read arrives. */
const MAX_HELD_RECORDS = 4096;
const MAX_HELD_BYTES = 16 << 20;
/** Keys tried per direction (one per conns run; more are a damaged or concatenated key log). */
const MAX_KEYS = 8;

export interface MidstreamKeys {
  toServer: MidstreamKey[];
  toClient: MidstreamKey[];
}

/** A whole record, copied: header and body in one buffer. */
interface HeldRecord {
  bytes: Buffer;
  timeNs: bigint;
}

/** Read through a function: the state changes inside calls, which TypeScript's narrowing cannot see. */
const stateOf = (side: Side): Side['state'] => side.state;
/** Capture time of the oldest bytes a side still holds undecrypted (it may yet produce output that old). */
function pendingSince(side: Side): bigint | null {
  if (side.state === 'boundary') return side.head[0]?.timeNs ?? null;
  if (side.state === 'aligning') return side.held[0]?.timeNs ?? null;
  return null;
}

const header = (r: HeldRecord): Buffer => r.bytes.subarray(0, 5);
const body = (r: HeldRecord): Buffer => r.bytes.subarray(5);

interface Aligned {
  suite: CipherSuite;
  secret: Buffer;
  decryptor: Tls13Decryptor;
}

class Side {
  state: 'boundary' | 'aligning' | 'aligned' | 'stopped' = 'boundary';
  /** Chunks (copied, with their capture times) before the record boundary is known. */
  head: HeldRecord[] = [];
  readonly records = new RecordSplitter();
  readonly messages = new HandshakeAssembler();
  held: HeldRecord[] = [];
  heldBytes = 0;
  /** Keys not yet tried, oldest read first. */
  readonly keys: MidstreamKey[];
  aligned: Aligned | null = null;
  bytes = 0;
  readonly alignment: MidstreamAlignment;
  constructor(
    readonly direction: Direction,
    keys: MidstreamKey[],
  ) {
    this.keys = [...keys].sort((a, b) => (a.timeNs < b.timeNs ? -1 : a.timeNs > b.timeNs ? 1 : 0)).slice(0, MAX_KEYS);
    this.alignment = { keySeq: this.keys[0]?.seq ?? null, firstSeq: null, skippedBytes: 0, skippedRecords: 0, failure: null };
  }
}

export class MidstreamTlsConnection implements StreamConsumer {
  readonly #info: HandshakeInfo;
  readonly #toServer: Side;
  readonly #toClient: Side;
  #decrypted = false;
  #reason: TlsFailureReason | null = null;
  #joinedAtNs: bigint | null = null;
  #handshakeReported = false;
  #ended = false;
  /**
   * Decrypted application data waiting for the other direction: a direction still looking for its boundary
   * or alignment may yet produce older records, and the HTTP layer needs both in capture order.
   */
  #out: Array<{ direction: Direction; data: Buffer; timeNs: bigint }> = [];
  #outBytes = 0;
  readonly #sink: TlsSink;

  constructor(
    keys: MidstreamKeys,
    sink: TlsSink,
  ) {
    this.#sink = sink;
    this.#toServer = new Side('toServer', keys.toServer);
    this.#toClient = new Side('toClient', keys.toClient);
    const suite = keys.toServer[0]?.suite ?? keys.toClient[0]?.suite;
    this.#info = {
      clientRandom: null,
      sni: null,
      alpnOffered: [],
      alpn: null,
      version: 'TLS 1.3',
      cipherSuite: suite === undefined ? null : cipherSuiteName(suite),
      helloRetryRequest: false,
      clientCertificate: null,
      serverCertificates: [],
      alert: null,
    };
  }

  result(): TlsResult {
    const midstream = { joinedAtNs: this.#joinedAtNs, toServer: this.#toServer.alignment, toClient: this.#toClient.alignment };
    return { handshake: this.#info, decrypted: this.#decrypted, reason: this.#reason, bytesToServer: this.#toServer.bytes, bytesToClient: this.#toClient.bytes, midstream };
  }

  onData(direction: Direction, bytes: Uint8Array, timeNs: bigint): void {
    const side = this.#side(direction);
    if (side.state === 'stopped' || bytes.length === 0) return;
    if (side.keys.length === 0 && side.state !== 'aligned') {
      return this.#stop(side, 'no mid-stream key for this direction', 'the key log has no mid-stream secret for this direction');
    }
    if (side.state === 'boundary') {
      side.head.push({ bytes: Buffer.from(bytes), timeNs });
      this.#findBoundary(side, false);
    } else {
      this.#push(side, bytes, timeNs);
    }
    this.#release(false);
  }

  onGap(direction: Direction): void {
    const side = this.#side(direction);
    if (side.state === 'stopped') return;
    this.#flush(side);
    // Bytes are missing: record boundaries (and sequence numbers) cannot be followed past them.
    if (stateOf(side) !== 'stopped') this.#stop(side, 'stream incomplete (lost segments)', null);
    this.#release(false);
  }

  onEnd(_end: ConnectionEnd, _endNs: bigint): void {
    if (this.#ended) return;
    this.#ended = true;
    for (const side of [this.#toServer, this.#toClient]) {
      if (side.state === 'stopped') continue;
      this.#flush(side);
      if (stateOf(side) !== 'stopped' && side.records.buffered > 0) this.#reason ??= 'stream incomplete (lost segments)';
    }
    if (!this.#decrypted) this.#reason ??= 'mid-stream key did not verify';
    this.#release(true);
    this.#reportHandshake();
    this.#sink.onEnd?.(this.result());
  }

  #side(direction: Direction): Side {
    return direction === 'toServer' ? this.#toServer : this.#toClient;
  }

  /** The stream of this side ended (or broke): decide with what is there. */
  #flush(side: Side): void {
    if (side.state === 'boundary' && side.head.length > 0) this.#findBoundary(side, true);
    if (side.state === 'aligning') {
      while (stateOf(side) === 'aligning' && side.keys.length > 0 && side.held.length > 0) this.#align(side, side.held.length - 1);
      if (stateOf(side) === 'aligning') this.#failAlignment(side);
    }
  }

  /** Once the boundary is known, feeds the chunks from it on, each with its capture time. */
  #findBoundary(side: Side, final: boolean): void {
    const bytes = Buffer.concat(side.head.map((c) => c.bytes));
    const found = findRecordBoundary(bytes, final);
    if (found.kind === 'more') return;
    if (found.kind === 'none') {
      // At the end, fewer bytes than a record and no whole one: the tail of a record, not a broken stream.
      if (final && bytes.length < MAX_BOUNDARY_SCAN) return this.#stop(side, 'stream incomplete (lost segments)', 'no whole record was captured after the join');
      return this.#stop(side, 'malformed TLS record', `no TLS 1.3 record starts within the first ${MAX_BOUNDARY_SCAN} bytes`);
    }
    side.alignment.skippedBytes = found.offset;
    const chunks = side.head;
    side.head = [];
    side.state = 'aligning';
    let skip = found.offset;
    for (const c of chunks) {
      const n = Math.min(skip, c.bytes.length);
      skip -= n;
      if (c.bytes.length > n && stateOf(side) !== 'stopped') this.#push(side, c.bytes.subarray(n), c.timeNs);
    }
  }

  #push(side: Side, bytes: Uint8Array, timeNs: bigint): void {
    const wellFormed = side.records.push(bytes, (record) => this.#onRecord(side, record, timeNs));
    if (!wellFormed && side.state !== 'stopped') this.#stop(side, 'malformed TLS record', 'a record header is not TLS');
  }

  #onRecord(side: Side, record: TlsRecord, timeNs: bigint): boolean {
    if (side.state === 'aligned') return this.#open(side, record.header, record.body, timeNs);
    if (side.state !== 'aligning') return false;
    side.held.push({ bytes: Buffer.concat([record.header, record.body]), timeNs });
    side.heldBytes += 5 + record.body.length;
    // The oldest held records go first: they are from before the key was read and may need an older key.
    while (side.held.length > MAX_HELD_RECORDS || side.heldBytes > MAX_HELD_BYTES) {
      side.heldBytes -= side.held.shift()!.bytes.length;
      side.alignment.skippedRecords += 1;
    }
    // The first record captured after the key was read is (about) the one with the key's sequence number.
    while (stateOf(side) === 'aligning' && side.keys.length > 0 && timeNs >= side.keys[0]!.timeNs) this.#align(side, side.held.length - 1);
    return stateOf(side) !== 'stopped';
  }

  /**
   * Tries the oldest untried key on held record `at`: the logged sequence number, then outwards. Success
   * decrypts the held records from the earliest one the key opens; failure moves to the next key.
   */
  #align(side: Side, at: number): void {
    const key = side.keys.shift()!;
    side.alignment.keySeq = key.seq;
    const suite = findCipherSuite(key.suite);
    if (!suite?.tls13 || !suite.cipher) return this.#stop(side, 'unsupported cipher suite', `cipher suite ${cipherSuiteName(key.suite)} cannot be decrypted`);
    if (key.secret.length !== HASH_LENGTH[suite.hash]) {
      return this.#nextKey(side, `the secret is ${key.secret.length} bytes, but ${suite.name} uses ${HASH_LENGTH[suite.hash]}-byte secrets`);
    }
    const { key: aeadKey, iv } = trafficKeys(suite.hash, key.secret, KEY_LENGTH[suite.cipher]);
    const decryptor = new Tls13Decryptor(suite.cipher, aeadKey, iv);
    const target = side.held[at]!;
    // Records captured before the key was read have smaller sequence numbers: the last one of them is seq-1.
    const expected = Number(key.seq) - (target.timeNs >= key.timeNs ? 0 : 1);
    const found = key.seq > BigInt(Number.MAX_SAFE_INTEGER) ? null : searchSequence(decryptor, target, expected);
    if (found === null) return this.#nextKey(side);

    // Walk back: earlier held records open at the sequence numbers before, until one does not.
    let first = at;
    const opened: OpenedRecord[] = [found.opened];
    while (first > 0 && found.seq - (at - first) - 1 >= 0) {
      const r = side.held[first - 1]!;
      const o = decryptor.openAt(found.seq - (at - first) - 1, header(r), body(r));
      if (!o) break;
      opened.unshift(o);
      first -= 1;
    }
    side.alignment.skippedRecords += first;
    side.alignment.firstSeq = found.seq - (at - first);
    side.aligned = { suite, secret: Buffer.from(key.secret), decryptor: new Tls13Decryptor(suite.cipher, aeadKey, iv, found.seq + 1) };
    side.state = 'aligned';
    const held = side.held;
    side.held = [];
    side.heldBytes = 0;
    for (let i = first; i <= at; i++) {
      if (!this.#onOpened(side, opened[i - first]!, held[i]!.timeNs)) return;
    }
    for (let i = at + 1; i < held.length; i++) {
      if (!this.#open(side, header(held[i]!), body(held[i]!), held[i]!.timeNs)) return;
    }
  }

  /** The key tried last did not verify (`why`, when it could not even be tried): the next one, if any. */
  #nextKey(side: Side, why?: string): void {
    if (side.keys.length === 0) this.#failAlignment(side, why);
  }

  #failAlignment(side: Side, why?: string): void {
    const seq = side.alignment.keySeq;
    const lo = seq === null ? 0n : seq > BigInt(MAX_SEQ_DISTANCE) ? seq - BigInt(MAX_SEQ_DISTANCE) : 0n;
    why ??=
      side.held.length === 0
        ? 'no whole record was captured after the join'
        : `no record authenticates with the logged secret at sequence numbers ${lo}…${(seq ?? 0n) + BigInt(MAX_SEQ_DISTANCE)}: ` +
          'the secret is wrong, or its sequence number does not belong to this capture';
    this.#stop(side, 'mid-stream key did not verify', why);
  }

  #open(side: Side, header: Uint8Array, body: Uint8Array, timeNs: bigint): boolean {
    const opened = side.aligned!.decryptor.open(0, 0, header, body);
    if (!opened) {
      this.#stop(side, 'decryption failed (wrong keys)', 'a record after the aligned ones does not authenticate (corrupted, or a KeyUpdate was lost)');
      return false;
    }
    return this.#onOpened(side, opened, timeNs);
  }

  #onOpened(side: Side, opened: OpenedRecord, timeNs: bigint): boolean {
    this.#decrypted = true;
    if (this.#joinedAtNs === null || timeNs < this.#joinedAtNs) this.#joinedAtNs = timeNs;
    switch (opened.type) {
      case ContentType.APPLICATION_DATA:
        side.bytes += opened.plaintext.length;
        this.#out.push({ direction: side.direction, data: opened.plaintext, timeNs });
        this.#outBytes += opened.plaintext.length;
        return true;
      case ContentType.HANDSHAKE: {
        // Post-handshake messages (NewSessionTicket, KeyUpdate) start at a record boundary when the
        // first record is; a message cut by the join cannot be told from a whole one and is rejected
        // as malformed by its length.
        const messages = side.messages.push(opened.plaintext);
        if (!messages) {
          this.#stop(side, 'malformed TLS record', 'a post-handshake message has an impossible length');
          return false;
        }
        for (const m of messages) {
          if (m.type !== HandshakeType.KEY_UPDATE) continue;
          const a = side.aligned!;
          const secret = nextTrafficSecret(a.suite.hash, a.secret);
          const { key, iv } = trafficKeys(a.suite.hash, secret, KEY_LENGTH[a.suite.cipher!]);
          side.aligned = { suite: a.suite, secret, decryptor: new Tls13Decryptor(a.suite.cipher!, key, iv) };
        }
        return true;
      }
      case ContentType.ALERT:
        this.#info.alert ??= describeAlert(opened.plaintext, side.direction === 'toServer' ? 'client' : 'server', false);
        return true;
      default:
        return true;
    }
  }

  /** Passes on the decrypted data no direction can precede any more, in capture order (all of it: `all`). */
  #release(all: boolean): void {
    if (this.#out.length === 0) return;
    const since = [pendingSince(this.#toServer), pendingSince(this.#toClient)].filter((t) => t !== null);
    const bound = all || this.#outBytes > MAX_HELD_BYTES || since.length === 0 ? null : since.reduce((a, b) => (a < b ? a : b));
    // Each direction's entries are in time order already: a stable sort merges the two.
    this.#out.sort((a, b) => (a.timeNs < b.timeNs ? -1 : a.timeNs > b.timeNs ? 1 : 0));
    let n = 0;
    while (n < this.#out.length && (bound === null || this.#out[n]!.timeNs < bound)) n++;
    if (n === 0) return;
    const ready = this.#out.splice(0, n);
    this.#reportHandshake();
    for (const o of ready) {
      this.#outBytes -= o.data.length;
      this.#sink.onApplicationData(o.direction, o.data, o.timeNs);
    }
  }

  #stop(side: Side, reason: TlsFailureReason, why: string | null): void {
    side.state = 'stopped';
    side.held = [];
    side.heldBytes = 0;
    side.head = [];
    this.#reason ??= reason;
    side.alignment.failure ??= why;
  }

  #reportHandshake(): void {
    if (this.#handshakeReported) return;
    this.#handshakeReported = true;
    this.#sink.onHandshake?.(this.#info);
  }
}

/** The sequence number near `expected` at which `record` authenticates (0, +1, −1, +2, …), or null. */
function searchSequence(decryptor: Tls13Decryptor, record: HeldRecord, expected: number): { seq: number; opened: OpenedRecord } | null {
  for (let distance = 0; distance <= MAX_SEQ_DISTANCE; distance++) {
    for (const seq of distance === 0 ? [expected] : [expected + distance, expected - distance]) {
      if (seq < 0 || seq > Number.MAX_SAFE_INTEGER) continue;
      const opened = decryptor.openAt(seq, header(record), body(record));
      if (opened) return { seq, opened };
    }
  }
  return null;
}
