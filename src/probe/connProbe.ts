import type { ArgLocation, ConnHookPlan } from '../golang/index.js';
import type { ProbeRecord, RawConnHit } from './events.js';
import { tracefsLocation } from './fetchArgs.js';
import type { EventFormat, FieldLayout } from './ringBuffer.js';

/** The struct offsets a conn probe dereferences (a subset of conns' layout table). */
export interface ConnProbeLayout {
  vers: number;
  cipherSuite: number;
  in: number;
  out: number;
  halfConn: { version: number; seq: number; trafficSecret: number };
}

/** Longest TLS 1.3 traffic secret (SHA-384). A longer length is not a secret and its bytes are not kept. */
const TRAFFIC_SECRET_CAPTURE = 48;

/**
 * Fetchargs of an entry probe on (*tls.Conn).Read or Write: the receiver, and what must be exact at that
 * instant — vers, cipherSuite, and per halfConn its version, seq (8 bytes, big-endian) and trafficSecret
 * (bytes through the slice's pointer, and its length). Everything else is read later from /proc/PID/mem.
 */
export function connFetchArgs(arch: ConnHookPlan['arch'], connAt: ArgLocation, layout: ConnProbeLayout): string {
  const c = tracefsLocation(arch, connAt);
  const at = (offset: number): string => `+${offset}(${c})`;
  const half = (prefix: string, base: number): string[] => [
    `${prefix}ver=${at(base + layout.halfConn.version)}:u16`,
    // u64s, not bytes: the kernel reads an array one element at a time (see tracefsFetchArgs). The record keeps
    // memory order either way (little-endian), so seq's 8 bytes still read big-endian.
    `${prefix}seq=${at(base + layout.halfConn.seq)}:x64`,
    // A nested dereference: the slice's data pointer, then its bytes. With no secret (TLS 1.2) the pointer is nil,
    // the fetch fails and the bytes are whatever the buffer held: only a valid length makes them count.
    `${prefix}sec=+0(${at(base + layout.halfConn.trafficSecret)}):x64[${TRAFFIC_SECRET_CAPTURE / 8}]`,
    `${prefix}secn=${at(base + layout.halfConn.trafficSecret + 8)}:u64`,
  ];
  return [`c=${c}:x64`, `vers=${at(layout.vers)}:u16`, `suite=${at(layout.cipherSuite)}:u16`, ...half('i', layout.in), ...half('o', layout.out)].join(' ');
}

const FIELDS = ['common_pid', 'c', 'vers', 'suite', 'iver', 'iseq', 'isec', 'isecn', 'over', 'oseq', 'osec', 'osecn'] as const;

/** Decodes one binary record of a conn probe with its event's format. */
export function decodeConnRecord(data: Uint8Array, timeNs: bigint, probe: string, format: EventFormat): ProbeRecord {
  const layouts = FIELDS.map((name) => format.fields.get(name));
  if (layouts.some((f) => f === undefined || f.offset + f.size > data.length)) return { kind: 'malformed', reason: 'conn record shorter than its format' };
  const f = Object.fromEntries(FIELDS.map((name, i) => [name, layouts[i]!])) as Record<(typeof FIELDS)[number], FieldLayout>;
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const u16 = (l: FieldLayout): number => view.getUint16(l.offset, true);
  const u64 = (l: FieldLayout): bigint => view.getBigUint64(l.offset, true);
  const seq = (l: FieldLayout): bigint => new DataView(data.buffer, data.byteOffset + l.offset, 8).getBigUint64(0, false);
  const secret = (bytes: FieldLayout, len: FieldLayout): { secret: Uint8Array; length: bigint } => {
    const length = u64(len);
    const ok = length > 0n && length <= BigInt(bytes.size);
    // A copy: the page buffer is reused by the next read.
    return { length, secret: ok ? Uint8Array.from(data.subarray(bytes.offset, bytes.offset + Number(length))) : new Uint8Array(0) };
  };
  const hit: RawConnHit = {
    probe,
    tid: view.getInt32(f.common_pid.offset, true),
    timeNs,
    conn: u64(f.c),
    vers: u16(f.vers),
    cipherSuite: u16(f.suite),
    in: { version: u16(f.iver), seq: seq(f.iseq), ...secret(f.isec, f.isecn) },
    out: { version: u16(f.over), seq: seq(f.oseq), ...secret(f.osec, f.osecn) },
  };
  return { kind: 'conn', hit };
}
