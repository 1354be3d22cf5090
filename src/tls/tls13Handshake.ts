/**
 * TLS 1.3 key handling: the handshake traffic secrets from the ServerHello on, the application traffic
 * secrets at each direction's Finished, the next secret at a KeyUpdate (RFC 8446 §7).
 */
import { HandshakeType } from './handshake.js';
import type { HalfConn } from './halfConn.js';
import { HASH_LENGTH, nextTrafficSecret, trafficKeys } from './keys.js';
import { Tls13Decryptor } from './protection.js';
import { ContentType } from './records.js';
import { KEY_LENGTH, type CipherSuite } from './suites.js';
import type { HandshakeContext, VersionHandshake } from './versionHandshake.js';

export class Tls13Handshake implements VersionHandshake {
  readonly tls13 = true;
  #suite: CipherSuite | null = null;
  readonly #context: HandshakeContext;

  constructor(context: HandshakeContext) {
    this.#context = context;
  }

  start(_hello: unknown, suite: CipherSuite | null): void {
    if (!suite) return this.#context.fail('unsupported cipher suite');
    this.#suite = suite;
    const clientRandom = this.#context.clientHello().random;
    const clientSecret = this.#context.keys.get(clientRandom, 'CLIENT_HANDSHAKE_TRAFFIC_SECRET');
    const serverSecret = this.#context.keys.get(clientRandom, 'SERVER_HANDSHAKE_TRAFFIC_SECRET');
    if (!clientSecret || !serverSecret) return this.#context.fail('no keys for client random');
    this.#install(this.#context.toServer, clientSecret);
    this.#install(this.#context.toClient, serverSecret);
  }

  /**
   * Only records of outer type application_data are protected: a ClientHello after a retry, the
   * compatibility ChangeCipherSpec and early alerts stay in the clear.
   */
  isProtected(contentType: number): boolean {
    return contentType === ContentType.APPLICATION_DATA;
  }

  onMessage(half: HalfConn, type: number, _body: Uint8Array, wasProtected: boolean): void {
    if (!wasProtected) return;
    if (type === HandshakeType.FINISHED) {
      const label = half === this.#context.toClient ? 'SERVER_TRAFFIC_SECRET_0' : 'CLIENT_TRAFFIC_SECRET_0';
      const secret = this.#context.keys.get(this.#context.clientHello().random, label);
      if (!secret) return this.#context.fail('no keys for client random');
      this.#install(half, secret);
    } else if (type === HandshakeType.KEY_UPDATE && half.trafficSecret && this.#suite) {
      this.#install(half, nextTrafficSecret(this.#suite.hash, half.trafficSecret));
    }
  }

  /** The compatibility ChangeCipherSpec (RFC 8446 §D.4) means nothing. */
  onChangeCipherSpec(): boolean {
    return true;
  }

  #install(half: HalfConn, secret: Uint8Array): void {
    const suite = this.#suite!;
    if (secret.length !== HASH_LENGTH[suite.hash]) return this.#context.fail('decryption failed (wrong keys)');
    const { key, iv } = trafficKeys(suite.hash, secret, KEY_LENGTH[suite.cipher!]);
    half.trafficSecret = Buffer.from(secret);
    half.decryptor = new Tls13Decryptor(suite.cipher!, key, iv);
    half.encrypted = true;
  }
}
