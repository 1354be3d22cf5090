/**
 * TLS 1.2/1.3 decryption of reassembled TCP streams.
 *
 *   const sessions = new Tls12SessionCache();                       // one per capture/run
 *   const tls = new TlsConnection(keys, sink, { joinedMidStream: !info.synSeen, sessions });
 *   keys: KeySource (src/keylog's KeyLog fits). tls is a StreamConsumer: return it from
 *   TcpReassembler's onConnection, or call tls.onData / tls.onGap / tls.onEnd yourself.
 *   sink.onApplicationData(direction, plaintext, timeNs): each decrypted record, timeNs = the segment that
 *     completed it; plaintext is a fresh buffer the sink owns.
 *   sink.onHandshake(info): once, before the first application data (or at the end); `info` is live and
 *     final by sink.onEnd(result), which comes once. tls.result() at any time.
 *
 * Never throws on bad input: a connection that cannot be (further) decrypted gets `reason` and stops
 * (`decrypted` stays true if records were decrypted before). Reasons: no keys for client random, handshake
 * not captured, unsupported cipher suite, decryption failed (wrong keys) — also corrupted records —,
 * stream incomplete (lost segments) — also a record cut by the end —, malformed TLS record, not TLS.
 *
 * Supported: TLS 1.3 AES-128/256-GCM, ChaCha20-Poly1305; handshake messages decrypted with the handshake
 * secrets (EncryptedExtensions, both Certificates, CertificateRequest), HelloRetryRequest, KeyUpdate.
 * TLS 1.2 ECDHE/RSA with AES-GCM, ChaCha20-Poly1305, AES-CBC-SHA/SHA256/SHA384 (MAC-then-encrypt, or
 * encrypt-then-MAC when negotiated), 3DES; keys from CLIENT_RANDOM, resumed sessions through `sessions`.
 * Certificates: CertificateInfo via Node's X509Certificate (frozen objects, shared between connections).
 *
 * Per-packet sniffs (no state, no parsing past the headers): clientHelloRandomOf(segmentPayload) and
 * isRecordHeader(segmentPayload); `tlsHelloSender`, the heuristic to register with src/net's TcpReassembler
 * (`senderHeuristics`) so that connections joined in the middle get their roles from the hellos.
 */
export type { MidstreamAlignment, MidstreamKey, MidstreamTlsInfo, TlsFailureReason, KeySource, CertificateInfo, HandshakeInfo, TlsAlert, TlsResult, TlsSink } from './types.js';
export { TlsConnection } from './connection.js';
export { MidstreamTlsConnection, MAX_SEQ_DISTANCE, type MidstreamKeys } from './midstream.js';
export type { TlsConnectionOptions } from './connection.js';
export { Tls12SessionCache } from './sessions.js';
export { describeCertificate } from './certificate.js';
export { cipherSuiteName } from './suites.js';
export { clientHelloRandomOf, tlsHelloSender } from './handshake.js';
export { isRecordHeader } from './records.js';
