import type { ConnectionEnd, Direction, StreamConsumer } from '../net/index.js';
import { describeCertificate } from './certificate.js';
import {
  HandshakeType,
  parseCertificateList,
  parseClientHello,
  parseEncryptedExtensionsAlpn,
  parseServerHello,
  parseTls12SessionTicket,
} from './handshake.js';
import { nextTrafficSecret, tls12Prf, trafficKeys, HASH_LENGTH } from './keys.js';
import { Tls12AeadDecryptor, Tls12CbcDecryptor, Tls13Decryptor, type RecordDecryptor } from './protection.js';
import { ContentType, HandshakeAssembler, RecordSplitter, type TlsRecord } from './records.js';
import type { Tls12SessionCache } from './sessions.js';
import { cipherSuiteName, findCipherSuite, KEY_LENGTH, MAC_LENGTH, type CipherSuite } from './suites.js';
import type { HandshakeInfo, KeySource, TlsFailureReason, TlsResult, TlsSink } from './types.js';

const TLS12 = 0x0303;
const TLS13 = 0x0304;
const VERSION_NAMES: Record<number, string> = { 0x0300: 'SSL 3.0', 0x0301: 'TLS 1.0', 0x0302: 'TLS 1.1', 0x0303: 'TLS 1.2', 0x0304: 'TLS 1.3' };

/** Protected records that arrived before the ServerHello that tells how to read them. */
const MAX_WAITING_RECORDS = 64;

export interface TlsConnectionOptions {
  /** The capture joined the TCP connection after it started (no SYN): a missing ClientHello is expected. */
  joinedMidStream?: boolean;
  /** Shared by the connections of one capture: lets resumed TLS 1.2 sessions find their master secret. */
  sessions?: Tls12SessionCache;
}

/** One direction's record and handshake state. */
class Side {
  readonly records = new RecordSplitter();
  readonly messages = new HandshakeAssembler();
  started = false;
  stopped = false;
  /** Records from now on are protected (1.3 after ServerHello, 1.2 after ChangeCipherSpec). */
  encrypted = false;
  decryptor: RecordDecryptor | null = null;
  /** TLS 1.2: the decryptor that takes over at this side's ChangeCipherSpec. */
  nextDecryptor: RecordDecryptor | null = null;
  /** TLS 1.3: the current application traffic secret, for KeyUpdate. */
  trafficSecret: Buffer | null = null;
  waiting: { record: TlsRecord; timeNs: bigint }[] = [];
  bytes = 0;
  constructor(readonly direction: Direction) {}
}

/** Decrypts one TCP connection's TLS; see index.ts for the contract. */
export class TlsConnection implements StreamConsumer {
  private readonly info: HandshakeInfo = {
    clientRandom: null,
    sni: null,
    alpnOffered: [],
    alpn: null,
    version: null,
    cipherSuite: null,
    helloRetryRequest: false,
    clientCertificate: null,
    serverCertificates: [],
  };
  private readonly toServer = new Side('toServer');
  private readonly toClient = new Side('toClient');
  private clientRandom: Uint8Array | null = null;
  /** TLS 1.2 resumption offers of the ClientHello. */
  private offeredSessionId: Uint8Array = new Uint8Array(0);
  private offeredTicket: Uint8Array = new Uint8Array(0);
  /** TLS 1.2 master secret, to remember under the tickets the server issues. */
  private masterSecret: Uint8Array | null = null;
  private suite: CipherSuite | null = null;
  private tls13 = false;
  private serverHelloSeen = false;
  private decrypted = false;
  private reason: TlsFailureReason | null = null;
  private stopped = false;
  private handshakeReported = false;
  private ended = false;

  constructor(
    private readonly keys: KeySource,
    private readonly sink: TlsSink,
    private readonly options: TlsConnectionOptions = {},
  ) {}

  result(): TlsResult {
    return {
      handshake: this.info,
      decrypted: this.decrypted,
      reason: this.reason,
      bytesToServer: this.toServer.bytes,
      bytesToClient: this.toClient.bytes,
    };
  }

  onData(direction: Direction, bytes: Uint8Array, timeNs: bigint): void {
    const side = this.side(direction);
    if (this.stopped || side.stopped || bytes.length === 0) return;
    if (!side.started) {
      side.started = true;
      // A TLS stream starts with a record header: content type 20–23, version 3.x.
      if (!(bytes[0]! >= 20 && bytes[0]! <= 23 && (bytes.length < 2 || bytes[1] === 3))) {
        this.fail(this.clientRandom ? 'malformed TLS record' : this.options.joinedMidStream ? 'handshake not captured' : 'not TLS');
        return;
      }
    }
    const wellFormed = side.records.push(bytes, (record) => this.onRecord(side, record, timeNs));
    if (!wellFormed && !this.stopped && !side.stopped) this.fail('malformed TLS record');
  }

  onGap(direction: Direction, _missingBytes?: number, _timeNs?: bigint): void {
    const side = this.side(direction);
    if (this.stopped || side.stopped) return;
    side.stopped = true;
    this.reason ??= 'stream incomplete (lost segments)';
  }

  onEnd(_end: ConnectionEnd, _endNs: bigint): void {
    if (this.ended) return;
    this.ended = true;
    for (const side of [this.toServer, this.toClient]) {
      // A record cut off by the end of the capture or connection.
      if (!this.stopped && !side.stopped && side.records.buffered > 0) this.reason ??= 'stream incomplete (lost segments)';
    }
    if (!this.clientRandom && !this.reason) {
      this.reason = this.options.joinedMidStream ? 'handshake not captured' : 'not TLS';
    }
    // Nothing decrypted and no failure: the handshake did not complete within the capture.
    if (!this.decrypted && !this.reason) this.reason = 'handshake not captured';
    this.reportHandshake();
    this.sink.onEnd?.(this.result());
  }

  private side(direction: Direction): Side {
    return direction === 'toServer' ? this.toServer : this.toClient;
  }

  /** Handles one record; false stops the splitter. */
  private onRecord(side: Side, record: TlsRecord, timeNs: bigint): boolean {
    if (this.stopped || side.stopped) return false;
    if (!this.clientRandom) {
      const isClientHello = side === this.toServer && record.type === ContentType.HANDSHAKE && record.body[0] === HandshakeType.CLIENT_HELLO;
      // The server's answer before the ClientHello: the capture reordered the directions; wait for the hello.
      if (side === this.toClient) return this.hold(side, record, timeNs);
      if (!isClientHello) {
        this.fail('handshake not captured');
        return false;
      }
    }
    const beforeServerHello = side === this.toServer ? this.clientRandom !== null : record.type !== ContentType.HANDSHAKE;
    // Which keys apply is known only from the ServerHello: hold what follows the ClientHello until then
    // (it arrives first only when the capture reordered the two directions).
    if (!this.serverHelloSeen && beforeServerHello) return this.hold(side, record, timeNs);
    // TLS 1.3 protects only records of outer type application_data (a ClientHello after a retry, the
    // compatibility ChangeCipherSpec and early alerts stay in the clear); TLS 1.2 everything after CCS.
    const isProtected = this.tls13 ? record.type === ContentType.APPLICATION_DATA : record.type !== ContentType.CHANGE_CIPHER_SPEC;
    if (side.encrypted && isProtected) {
      const opened = side.decryptor?.open(record.type, record.version, record.header, record.body);
      if (!opened) {
        this.fail(side.decryptor ? 'decryption failed (wrong keys)' : 'no keys for client random');
        return false;
      }
      this.decrypted = true;
      return this.onPlaintext(side, opened.type, opened.plaintext, timeNs, true);
    }
    return this.onPlaintext(side, record.type, record.body, timeNs, false);
  }

  private onPlaintext(side: Side, type: number, data: Uint8Array, timeNs: bigint, wasProtected: boolean): boolean {
    switch (type) {
      case ContentType.HANDSHAKE: {
        const messages = side.messages.push(data);
        if (!messages) {
          this.fail('malformed TLS record');
          return false;
        }
        for (const message of messages) {
          this.onHandshakeMessage(side, message.type, message.body, wasProtected);
          if (this.stopped || side.stopped) return false;
        }
        return true;
      }
      case ContentType.CHANGE_CIPHER_SPEC:
        if (!this.tls13) {
          if (!side.nextDecryptor) {
            // This side is unreadable from here on; the other may still send its certificate in the clear.
            this.reason ??= 'no keys for client random';
            side.stopped = true;
            side.waiting = [];
            return false;
          }
          side.encrypted = true;
          side.decryptor = side.nextDecryptor;
        }
        return true;
      case ContentType.APPLICATION_DATA:
        if (!wasProtected) {
          this.fail('handshake not captured');
          return false;
        }
        this.reportHandshake();
        side.bytes += data.length;
        this.sink.onApplicationData(side.direction, data, timeNs);
        return true;
      default:
        return true; // alerts, heartbeats: nothing to report
    }
  }

  private onHandshakeMessage(side: Side, type: number, body: Uint8Array, wasProtected: boolean): void {
    switch (type) {
      case HandshakeType.CLIENT_HELLO: {
        if (side !== this.toServer || this.clientRandom) return; // the second ClientHello after a retry
        const hello = parseClientHello(body);
        if (!hello) return this.fail('malformed TLS record');
        this.clientRandom = Buffer.from(hello.random);
        this.offeredSessionId = Buffer.from(hello.sessionId);
        this.offeredTicket = Buffer.from(hello.sessionTicket);
        this.info.clientRandom = Buffer.from(hello.random).toString('hex');
        this.info.sni = hello.sni;
        this.info.alpnOffered = hello.alpn;
        this.replayWaiting();
        return;
      }
      case HandshakeType.SERVER_HELLO: {
        if (side !== this.toClient || this.serverHelloSeen) return;
        const hello = parseServerHello(body);
        if (!hello) return this.fail('malformed TLS record');
        if (hello.helloRetryRequest) {
          this.info.helloRetryRequest = true;
          return;
        }
        this.serverHelloSeen = true;
        this.info.version = VERSION_NAMES[hello.version] ?? `0x${hello.version.toString(16)}`;
        this.info.cipherSuite = cipherSuiteName(hello.cipherSuite);
        if (hello.alpn) this.info.alpn = hello.alpn;
        this.tls13 = hello.version === TLS13;
        this.setUpKeys(hello.cipherSuite, hello.version, hello.random, hello.encryptThenMac, hello.sessionId);
        this.replayWaiting();
        return;
      }
      case HandshakeType.ENCRYPTED_EXTENSIONS:
        if (side === this.toClient) this.info.alpn = parseEncryptedExtensionsAlpn(body);
        return;
      case HandshakeType.CERTIFICATE: {
        const ders = parseCertificateList(body, this.tls13);
        if (!ders) return this.fail('malformed TLS record');
        const certificates = ders.map(describeCertificate).filter((c) => c !== null);
        if (side === this.toClient) this.info.serverCertificates = certificates;
        else this.info.clientCertificate = certificates[0] ?? null;
        return;
      }
      case HandshakeType.NEW_SESSION_TICKET: {
        const ticket = !this.tls13 && side === this.toClient ? parseTls12SessionTicket(body) : null;
        if (ticket && this.masterSecret) this.options.sessions?.remember(ticket, this.masterSecret);
        return;
      }
      case HandshakeType.FINISHED:
        if (this.tls13 && wasProtected) this.useTrafficSecret(side, side === this.toClient ? 'SERVER_TRAFFIC_SECRET_0' : 'CLIENT_TRAFFIC_SECRET_0');
        return;
      case HandshakeType.KEY_UPDATE:
        if (this.tls13 && wasProtected && side.trafficSecret && this.suite) {
          this.installTls13(side, nextTrafficSecret(this.suite.hash, side.trafficSecret));
        }
        return;
      default:
        return;
    }
  }

  private setUpKeys(code: number, version: number, serverRandom: Uint8Array, encryptThenMac: boolean, sessionId: Uint8Array): void {
    const suite = findCipherSuite(code);
    if (!suite || !suite.cipher || (version !== TLS12 && version !== TLS13) || suite.tls13 !== (version === TLS13)) {
      // Before TLS 1.3 the certificates that follow are in the clear: read them, stop at ChangeCipherSpec.
      if (this.tls13) this.fail('unsupported cipher suite');
      else this.reason ??= 'unsupported cipher suite';
      return;
    }
    this.suite = suite;
    const clientRandom = this.clientRandom!;
    if (this.tls13) {
      const clientSecret = this.keys.get(clientRandom, 'CLIENT_HANDSHAKE_TRAFFIC_SECRET');
      const serverSecret = this.keys.get(clientRandom, 'SERVER_HANDSHAKE_TRAFFIC_SECRET');
      if (!clientSecret || !serverSecret) return this.fail('no keys for client random');
      this.installTls13(this.toServer, clientSecret);
      this.installTls13(this.toClient, serverSecret);
      return;
    }
    const master = this.keys.get(clientRandom, 'CLIENT_RANDOM') ?? this.resumedMasterSecret(sessionId);
    // Without keys the plaintext part of a 1.2 handshake (certificates) is still worth reading.
    if (!master) {
      this.reason ??= 'no keys for client random';
      return;
    }
    this.masterSecret = master;
    this.options.sessions?.remember(sessionId, master);
    const cipher = suite.cipher;
    const macLength = suite.mac ? MAC_LENGTH[suite.mac] : 0;
    const keyLength = KEY_LENGTH[cipher];
    const ivLength = suite.mac ? 0 : cipher === 'chacha20-poly1305' ? 12 : 4;
    const seed = Buffer.concat([serverRandom, clientRandom]);
    const block = tls12Prf(suite.hash, master, 'key expansion', seed, 2 * (macLength + keyLength + ivLength));
    let at = 0;
    const next = (n: number): Buffer => block.subarray(at, (at += n));
    const clientMac = next(macLength);
    const serverMac = next(macLength);
    const clientKey = next(keyLength);
    const serverKey = next(keyLength);
    const clientIv = next(ivLength);
    const serverIv = next(ivLength);
    const make = (key: Buffer, iv: Buffer, macKey: Buffer): RecordDecryptor =>
      suite.mac ? new Tls12CbcDecryptor(cipher, key, suite.mac, macKey, encryptThenMac) : new Tls12AeadDecryptor(cipher, key, iv);
    this.toServer.nextDecryptor = make(clientKey, clientIv, clientMac);
    this.toClient.nextDecryptor = make(serverKey, serverIv, serverMac);
  }

  /** An abbreviated handshake echoes the offered session ID; its secret is the earlier session's. */
  private resumedMasterSecret(sessionId: Uint8Array): Uint8Array | undefined {
    const sessions = this.options.sessions;
    if (!sessions || sessionId.length === 0 || !Buffer.from(sessionId).equals(this.offeredSessionId)) return undefined;
    return sessions.find(this.offeredTicket) ?? sessions.find(sessionId);
  }

  private useTrafficSecret(side: Side, label: string): void {
    const secret = this.keys.get(this.clientRandom!, label);
    if (!secret) return this.fail('no keys for client random');
    this.installTls13(side, secret);
  }

  private installTls13(side: Side, secret: Uint8Array): void {
    const suite = this.suite!;
    if (secret.length !== HASH_LENGTH[suite.hash]) return this.fail('decryption failed (wrong keys)');
    const { key, iv } = trafficKeys(suite.hash, secret, KEY_LENGTH[suite.cipher!]);
    side.trafficSecret = Buffer.from(secret);
    side.decryptor = new Tls13Decryptor(suite.cipher!, key, iv);
    side.encrypted = true;
  }

  /** Keeps a record (copied) until the handshake tells how to read it; too many means it never will. */
  private hold(side: Side, record: TlsRecord, timeNs: bigint): boolean {
    if (side.waiting.length >= MAX_WAITING_RECORDS) {
      this.fail('handshake not captured');
      return false;
    }
    side.waiting.push({ record: copyRecord(record), timeNs });
    return true;
  }

  private replayWaiting(): void {
    for (const side of [this.toServer, this.toClient]) {
      const waiting = side.waiting;
      side.waiting = [];
      for (const { record, timeNs } of waiting) {
        if (!this.onRecord(side, record, timeNs)) break;
      }
    }
  }

  private reportHandshake(): void {
    if (this.handshakeReported) return;
    this.handshakeReported = true;
    this.sink.onHandshake?.(this.info);
  }

  private fail(reason: TlsFailureReason): void {
    this.reason ??= reason;
    this.stopped = true;
    this.toServer.waiting = [];
    this.toClient.waiting = [];
  }
}

function copyRecord(record: TlsRecord): TlsRecord {
  const header = Uint8Array.prototype.slice.call(record.header);
  return { ...record, header, body: Uint8Array.prototype.slice.call(record.body) };
}
