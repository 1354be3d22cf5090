/** An address and port as printed for users: IPv4 dotted, IPv6 in RFC 5952 form. */
export interface Endpoint {
  ip: string;
  port: number;
}

/** One TCP segment, decoded from a captured frame. */
export interface TcpSegment {
  src: Endpoint;
  dst: Endpoint;
  /** Sequence and acknowledgement numbers, unsigned 32-bit. */
  seq: number;
  ack: number;
  /** TCP flag bits (see `TcpFlag`). */
  flags: number;
  /** The captured payload: a view into the frame, never a copy. */
  payload: Uint8Array;
  /**
   * The payload length the IP header declares. Larger than `payload.length` when the capture cut the frame
   * (snap length): the reassembler reports the missing bytes as a gap.
   */
  payloadLength: number;
}

export const TcpFlag = { FIN: 0x01, SYN: 0x02, RST: 0x04, PSH: 0x08, ACK: 0x10 } as const;
