import type { Direction, Endpoint } from '../net/index.js';

/** Why a connection (or the rest of it) could not be decrypted. */
export type TlsFailureReason =
  | 'no keys for client random'
  | 'handshake not captured'
  | 'unsupported cipher suite'
  | 'decryption failed (wrong keys)'
  | 'stream incomplete (lost segments)'
  | 'malformed TLS record'
  | 'not TLS'
  /** Mid-stream: no record authenticated with the logged secret near its sequence number. */
  | 'mid-stream key did not verify'
  /** Mid-stream: the key log has a secret for the other direction only. */
  | 'no mid-stream key for this direction'
  /** The server answered the SYN with a RST. */
  | 'refused (RST)';

/** Where secrets come from: a key log file, DSBs, or both (src/keylog's KeyLog fits this). */
export interface KeySource {
  /** The secret logged under `label` (CLIENT_RANDOM, CLIENT_TRAFFIC_SECRET_0, …) for this client random. */
  get(clientRandom: Uint8Array, label: string): Uint8Array | undefined;
  /** Mid-stream TLS 1.3 secrets of the connection between these endpoints, for what `direction` sends. */
  midstream?(client: Endpoint, server: Endpoint, direction: 'client' | 'server'): MidstreamKey[];
}

/** A certificate as the report shows it. Dates are ISO 8601 (UTC). */
export interface CertificateInfo {
  subject: string;
  commonName: string | null;
  organizations: string[];
  issuer: string;
  subjectAltNames: string[];
  notBefore: string;
  notAfter: string;
  /** Hex, uppercase, as OpenSSL prints it. */
  serialNumber: string;
  /** SHA-256 of the DER, colon-separated uppercase hex, as `openssl x509 -fingerprint -sha256` prints it. */
  sha256: string;
  /** The signing CA's key id (Authority Key Identifier), colon-separated uppercase hex as openssl prints it; null if absent. */
  authorityKeyId: string | null;
}

/** A TLS alert seen on the connection (decrypted when it was protected). */
export interface TlsAlert {
  /** Who sent it. */
  from: 'client' | 'server';
  fatal: boolean;
  /** RFC 8446 6 name, e.g. "certificate_expired"; "alert 123" when unknown. */
  description: string;
  /** Sent before the handshake completed on the sender's side: the peer's credentials or parameters were refused. */
  duringHandshake: boolean;
}

export interface HandshakeInfo {
  /** Hex of the ClientHello random: the key log's lookup key. */
  clientRandom: string | null;
  sni: string | null;
  alpnOffered: string[];
  /** The protocol the server selected (ServerHello in 1.2, EncryptedExtensions in 1.3). */
  alpn: string | null;
  /** "TLS 1.2", "TLS 1.3", … as negotiated. */
  version: string | null;
  /** IANA name, e.g. "TLS_AES_128_GCM_SHA256"; "0x1234" when unknown. */
  cipherSuite: string | null;
  helloRetryRequest: boolean;
  /** The leaf of the client's Certificate message, if it sent one and we could read it. */
  clientCertificate: CertificateInfo | null;
  /** The server's chain, leaf first. */
  serverCertificates: CertificateInfo[];
  /** The first alert other than close_notify, if any. */
  alert: TlsAlert | null;
}

/** What a TLS connection amounts to once its streams ended. */
export interface TlsResult {
  handshake: HandshakeInfo;
  /** True once a record was decrypted and authenticated with the logged keys. */
  decrypted: boolean;
  /**
   * Set when decryption did not happen or stopped early; with `decrypted` true it means the connection was
   * readable up to that point (e.g. 'stream incomplete (lost segments)').
   */
  reason: TlsFailureReason | null;
  /** Application-data bytes decrypted per direction. */
  bytesToServer: number;
  bytesToClient: number;
  /** Set for a connection decrypted from mid-stream keys (its handshake was not in the capture). */
  midstream?: MidstreamTlsInfo;
}

/** A TLS 1.3 traffic secret of one direction read from the live process (src/keylog's MidstreamSecret fits). */
export interface MidstreamKey {
  /** TLS 1.3 cipher suite code. */
  suite: number;
  /** Sequence number of the next record the sender protected with `secret` when it was read. */
  seq: bigint;
  secret: Uint8Array;
  /** When it was read, ns since the epoch (same clock as the capture's timestamps). */
  timeNs: bigint;
}

/** How one direction of a mid-stream connection was aligned. */
export interface MidstreamAlignment {
  /** The sequence number the key log gave for the key used (or tried), null without a key. */
  keySeq: bigint | null;
  /** Sequence number of the first record decrypted, null when none was. */
  firstSeq: number | null;
  /** Bytes of this direction before the first whole record (the capture joined inside a record). */
  skippedBytes: number;
  /** Records before the first decrypted one (older keys, or sent before the capture could tell). */
  skippedRecords: number;
  /** Why this direction could not be decrypted, in one sentence; null when it was. */
  failure: string | null;
}

export interface MidstreamTlsInfo {
  /** Capture time (ns since the epoch) of the first record decrypted, either direction; null if none. */
  joinedAtNs: bigint | null;
  toServer: MidstreamAlignment;
  toClient: MidstreamAlignment;
}

/** Receives a connection's decrypted traffic. `data` is owned by the receiver (a fresh buffer). */
export interface TlsSink {
  onApplicationData(direction: Direction, data: Uint8Array, timeNs: bigint): void;
  /** Called once the handshake is known (after the server's Finished or when it cannot be read further). */
  onHandshake?(handshake: HandshakeInfo): void;
  /** Called once when both streams ended. */
  onEnd?(result: TlsResult): void;
}
