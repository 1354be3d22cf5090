import { decodePacket, type TcpSegment } from '../../src/net/index.js';
import { LinkType } from '../../src/net/index.js';
import type { Frame } from './pipeline.js';

/** A frame of an Ethernet/IPv4 capture (what tcpdump -i lo writes) with its TCP fields located. */
export interface TcpFrame extends Frame {
  segment: TcpSegment;
  /** Offsets of the IPv4 header, the TCP header and the payload inside `data`. */
  ipAt: number;
  tcpAt: number;
  payloadAt: number;
}

export function tcpFrames(frames: Frame[]): TcpFrame[] {
  return frames.map((frame) => {
    if (frame.linkType !== LinkType.ETHERNET) throw new Error('expected an Ethernet capture');
    const segment = decodePacket(frame.linkType, frame.data);
    if (!segment) throw new Error('expected TCP frames only');
    const ipAt = 14;
    const tcpAt = ipAt + (frame.data[ipAt]! & 0x0f) * 4;
    return { ...frame, segment, ipAt, tcpAt, payloadAt: tcpAt + (frame.data[tcpAt + 12]! >> 4) * 4 };
  });
}

/** A copy of `frame` carrying `payload` at sequence number `seq` (IP length and TCP seq rewritten). */
export function withPayload(frame: TcpFrame, seq: number, payload: Uint8Array, keepFin: boolean): TcpFrame {
  const data = new Uint8Array(frame.payloadAt + payload.length);
  data.set(frame.data.subarray(0, frame.payloadAt));
  data.set(payload, frame.payloadAt);
  const view = new DataView(data.buffer);
  view.setUint16(frame.ipAt + 2, data.length - frame.ipAt);
  view.setUint32(frame.tcpAt + 4, seq >>> 0);
  if (!keepFin) data[frame.tcpAt + 13]! &= ~0x01;
  return retcp({ ...frame, data });
}

/** Cuts every segment longer than `mss` into `mss`-sized segments, as a real network path would. */
export function resegment(frames: TcpFrame[], mss: number): TcpFrame[] {
  const out: TcpFrame[] = [];
  for (const frame of frames) {
    const payload = frame.segment.payload;
    if (payload.length <= mss) {
      out.push(frame);
      continue;
    }
    for (let at = 0; at < payload.length; at += mss) {
      const end = Math.min(at + mss, payload.length);
      out.push(withPayload(frame, frame.segment.seq + at, payload.subarray(at, end), end === payload.length));
    }
  }
  return out;
}

/** Adds `delta` to the sequence numbers one side sends and to the acknowledgements the other side sends. */
export function shiftSequence(frames: TcpFrame[], senderPort: number, delta: number): TcpFrame[] {
  return frames.map((frame) => {
    const s = frame.segment;
    if (s.src.port !== senderPort && s.dst.port !== senderPort) return frame;
    const data = Uint8Array.prototype.slice.call(frame.data);
    const view = new DataView(data.buffer);
    if (s.src.port === senderPort) view.setUint32(frame.tcpAt + 4, (s.seq + delta) >>> 0);
    else if (s.flags & 0x10) view.setUint32(frame.tcpAt + 8, (s.ack + delta) >>> 0);
    return retcp({ ...frame, data });
  });
}

function retcp(frame: TcpFrame): TcpFrame {
  return { ...frame, segment: decodePacket(frame.linkType, frame.data)! };
}
