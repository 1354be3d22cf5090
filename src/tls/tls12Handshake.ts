/**
 * TLS 1.2 (and older, which we read but do not decrypt) key handling: the master secret from the key log or
 * a resumed session, the key block → record decryptors that take over at each direction's ChangeCipherSpec,
 * and the session tickets that let later connections resume.
 */
import { HandshakeType, parseTls12SessionTicket, type ServerHello } from './handshake.js';
import type { HalfConn } from './halfConn.js';
import { tls12KeyBlock } from './keys.js';
import { Tls12AeadDecryptor, Tls12CbcDecryptor, type RecordDecryptor } from './protection.js';
import { ContentType } from './records.js';
import type { Tls12SessionCache } from './sessions.js';
import type { CipherSuite } from './suites.js';
import type { HandshakeContext, VersionHandshake } from './versionHandshake.js';

export class Tls12Handshake implements VersionHandshake {
  readonly tls13 = false;
  /** The master secret, to remember under the tickets the server issues. */
  #masterSecret: Uint8Array | null = null;
  readonly #context: HandshakeContext;
  readonly #sessions: Tls12SessionCache | undefined;

  constructor(
    context: HandshakeContext,
    sessions: Tls12SessionCache | undefined,
  ) {
    this.#context = context;
    this.#sessions = sessions;
  }

  start(hello: ServerHello, suite: CipherSuite | null): void {
    // Before TLS 1.3 the certificates that follow are in the clear: read them, stop at ChangeCipherSpec.
    if (!suite) return this.#context.note('unsupported cipher suite');
    const clientRandom = this.#context.clientHello().random;
    const master = this.#context.keys.get(clientRandom, 'CLIENT_RANDOM') ?? this.#resumedMasterSecret(hello.sessionId);
    // Without keys the plaintext part of the handshake (certificates) is still worth reading.
    if (!master) return this.#context.note('no keys for client random');
    this.#masterSecret = master;
    this.#sessions?.remember(hello.sessionId, master);
    const cipher = suite.cipher!;
    const { client, server } = tls12KeyBlock(suite, master, hello.random, clientRandom);
    const make = (keys: typeof client): RecordDecryptor =>
      suite.mac ? new Tls12CbcDecryptor(cipher, keys.key, suite.mac, keys.macKey, hello.encryptThenMac) : new Tls12AeadDecryptor(cipher, keys.key, keys.iv);
    this.#context.toServer.nextDecryptor = make(client);
    this.#context.toClient.nextDecryptor = make(server);
  }

  /** Everything after ChangeCipherSpec is protected. */
  isProtected(contentType: number): boolean {
    return contentType !== ContentType.CHANGE_CIPHER_SPEC;
  }

  onMessage(half: HalfConn, type: number, body: Uint8Array): void {
    if (type !== HandshakeType.NEW_SESSION_TICKET || half !== this.#context.toClient) return;
    const ticket = parseTls12SessionTicket(body);
    if (ticket && this.#masterSecret) this.#sessions?.remember(ticket, this.#masterSecret);
  }

  onChangeCipherSpec(half: HalfConn): boolean {
    if (!half.nextDecryptor) {
      // This direction is unreadable from here on; the other may still send its certificate in the clear.
      this.#context.note('no keys for client random');
      half.stopped = true;
      half.waiting = [];
      return false;
    }
    half.encrypted = true;
    half.decryptor = half.nextDecryptor;
    return true;
  }

  /** An abbreviated handshake echoes the offered session ID; its secret is the earlier session's. */
  #resumedMasterSecret(sessionId: Uint8Array): Uint8Array | undefined {
    const offered = this.#context.clientHello();
    if (!this.#sessions || sessionId.length === 0 || !Buffer.from(sessionId).equals(offered.sessionId)) return undefined;
    return this.#sessions.find(offered.sessionTicket) ?? this.#sessions.find(sessionId);
  }
}
