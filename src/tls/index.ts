/**
 * TLS 1.2/1.3 decryption of reassembled TCP streams.
 *
 *   const tls = new TlsConnection(keys, sink);   // keys: KeySource (e.g. src/keylog KeyLog)
 *   tls is a StreamConsumer: give it to TcpReassembler (onConnection → tls), or call
 *   tls.onData(direction, bytes, timeNs) / tls.onGap(...) / tls.onEnd(...) yourself.
 *   sink.onApplicationData(direction, plaintext, timeNs) per decrypted record (timeNs = the segment that
 *   completed the record); sink.onHandshake(info) once; sink.onEnd(result) once; tls.result() at any time.
 *
 * Never throws on bad input: a connection that cannot be (further) decrypted gets `reason` and stops.
 * Supported: TLS 1.3 AES-128/256-GCM, ChaCha20-Poly1305 (handshake messages decrypted with the handshake
 * secrets: client and server certificates; KeyUpdate followed); TLS 1.2 ECDHE/RSA with AES-GCM,
 * ChaCha20-Poly1305, AES-CBC with SHA-1/SHA-256 MACs (keys from CLIENT_RANDOM master secrets).
 */
export type { TlsFailureReason, KeySource, CertificateInfo, HandshakeInfo, TlsResult, TlsSink } from './types.js';
export { TlsConnection } from './connection.js';
export type { TlsConnectionOptions } from './connection.js';
export { Tls12SessionCache } from './sessions.js';
export { describeCertificate } from './certificate.js';
export { cipherSuiteName } from './suites.js';
