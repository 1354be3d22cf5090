/**
 * The seam between record routing (connection.ts) and the key handling of one TLS version
 * (tls12Handshake.ts, tls13Handshake.ts), as Go's crypto/tls splits handshake_client.go from
 * handshake_client_tls13.go. The connection reads what the handshake says (hellos, certificates, ALPN);
 * the version decides which records are protected and with which keys.
 */
import type { ClientHello, ServerHello } from './handshake.js';
import type { HalfConn } from './halfConn.js';
import type { CipherSuite } from './suites.js';
import type { KeySource, TlsFailureReason } from './types.js';

/** What a version's handshake may see and do of its connection. */
export interface HandshakeContext {
  readonly keys: KeySource;
  readonly toServer: HalfConn;
  readonly toClient: HalfConn;
  /** The ClientHello (copied), known before any version handshake starts. */
  clientHello(): ClientHello;
  /** The connection cannot be decrypted further. */
  fail(reason: TlsFailureReason): void;
  /** Something cannot be decrypted, but the rest (certificates in the clear) is still worth reading. */
  note(reason: TlsFailureReason): void;
}

export interface VersionHandshake {
  readonly tls13: boolean;
  /** The ServerHello chose this version; `suite` is null when we cannot decrypt the chosen suite. */
  start(hello: ServerHello, suite: CipherSuite | null): void;
  /** Whether a record of this outer content type is protected once its direction's keys are on. */
  isProtected(contentType: number): boolean;
  /** A handshake message that concerns keys (the connection has read what it says). */
  onMessage(half: HalfConn, type: number, body: Uint8Array, wasProtected: boolean): void;
  /** A ChangeCipherSpec record; false stops this direction. */
  onChangeCipherSpec(half: HalfConn): boolean;
}
