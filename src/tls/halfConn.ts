/** One direction of a TLS connection (Go's crypto/tls `halfConn`): its records, handshake messages and keys. */
import type { Direction } from '../net/index.js';
import type { RecordDecryptor } from './protection.js';
import { HandshakeAssembler, RecordSplitter, type TlsRecord } from './records.js';

export class HalfConn {
  readonly records = new RecordSplitter();
  readonly messages = new HandshakeAssembler();
  started = false;
  stopped = false;
  /** Records from now on are protected (1.3 after ServerHello, 1.2 after ChangeCipherSpec). */
  encrypted = false;
  decryptor: RecordDecryptor | null = null;
  /** TLS 1.2: the decryptor that takes over at this direction's ChangeCipherSpec. */
  nextDecryptor: RecordDecryptor | null = null;
  /** TLS 1.3: the current application traffic secret, for KeyUpdate. */
  trafficSecret: Buffer | null = null;
  waiting: { record: TlsRecord; timeNs: bigint }[] = [];
  bytes = 0;
  /** Capture time of the bytes being split into records now. */
  splitTimeNs = 0n;
  /** Bytes that will arrive (see TlsConnection.lookAhead), to open their records in one batch first. */
  ahead: Uint8Array[] | null = null;
  constructor(readonly direction: Direction) {}
}
