/** One writeKeyLog hit as a backend read it, before validation. Byte arrays are already cut to their lengths. */
export interface RawKeyEvent {
  /** Which probe fired: names the hooked binary. */
  probe: string;
  /** Thread id of the hit; the process id is `tgid` when the backend knows it. */
  tid: number;
  tgid?: number;
  /** CLOCK_MONOTONIC nanoseconds of the hit. */
  timeNs: bigint;
  comm: string;
  label: Uint8Array;
  clientRandom: Uint8Array;
  secret: Uint8Array;
}

/** What a backend makes of one line of its output. */
export type ProbeRecord =
  | { kind: 'key'; event: RawKeyEvent }
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
