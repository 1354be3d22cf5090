/** The kernel's recorded process of a thread, if it has one. */
export type TgidLookup = (tid: number) => number | undefined;

/** One writeKeyLog hit as a backend read it, before validation. Byte arrays are already cut to their lengths. */
export interface RawKeyEvent {
  /** Which probe fired: names the hooked binary. */
  probe: string;
  /** Thread id of the hit; the process id is `tgid` when the backend knows it. */
  tid: number;
  tgid?: number;
  /** Otherwise the backend may look up the kernel's recorded process of a thread: costly, so only when asked. */
  tgidOf?: TgidLookup;
  /** CLOCK_MONOTONIC nanoseconds of the hit. */
  timeNs: bigint;
  comm: string;
  label: Uint8Array;
  clientRandom: Uint8Array;
  secret: Uint8Array;
}

/** One halfConn as a conn probe read it at function entry. */
export interface RawHalfConn {
  version: number;
  /** Sequence number of the next record in this direction. */
  seq: bigint;
  /** trafficSecret's length as read (bytes kept only when it fits the capture). */
  length: bigint;
  secret: Uint8Array;
}

/** One (*tls.Conn).Read or Write entry hit, before validation. */
export interface RawConnHit {
  /** Which probe fired: names the binary and whether it is Read or Write. */
  probe: string;
  tid: number;
  tgid?: number;
  tgidOf?: TgidLookup;
  timeNs: bigint;
  /** The *tls.Conn. */
  conn: bigint;
  vers: number;
  cipherSuite: number;
  in: RawHalfConn;
  out: RawHalfConn;
}

/** What a backend makes of one line of its output. */
export type ProbeRecord =
  | { kind: 'key'; event: RawKeyEvent }
  | { kind: 'conn'; hit: RawConnHit }
  | { kind: 'lost'; count: number }
  /** A line of one of our probes that cannot be read: counted as a reject. */
  | { kind: 'malformed'; reason: string }
  /** Headers, other events, chatter. */
  | { kind: 'other' };

/** A validated key with who logged it and when: what `startKeyCapture` emits. */
export interface KeyEvent {
  label: string;
  clientRandom: Uint8Array;
  secret: Uint8Array;
  pid: number;
  comm: string;
  /** Wall-clock time of the probe hit. */
  time: Date;
  /** CLOCK_MONOTONIC nanoseconds of the probe hit (same clock as process.hrtime.bigint()). */
  timeNs: bigint;
}
