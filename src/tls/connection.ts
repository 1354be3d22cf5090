/**
 * Record routing of one TLS connection: records in each direction, held until the ServerHello tells how to
 * read them, opened with the keys of the negotiated version's handshake (tls12Handshake.ts,
 * tls13Handshake.ts), and what the handshake says (hellos, certificates, ALPN) for the report.
 */
import type { ConnectionEnd, Direction, StreamConsumer } from '../net/index.js';
import { alertName, CLOSE_NOTIFY, parseAlert } from './alerts.js';
import { describeCertificate } from './certificate.js';
import {
  HandshakeType,
  parseCertificateList,
  parseClientHello,
  parseEncryptedExtensionsAlpn,
  parseServerHello,
  type ClientHello,
  type ServerHello,
} from './handshake.js';
import { HalfConn } from './halfConn.js';
import { MAX_BATCHED_BODY } from './batchOpen.js';
import { Tls13Decryptor } from './protection.js';
import { ContentType, startsLikeRecord, type TlsRecord } from './records.js';
import type { Tls12SessionCache } from './sessions.js';
import { cipherSuiteName, findCipherSuite, type CipherSuite } from './suites.js';
import { Tls12Handshake } from './tls12Handshake.js';
import { Tls13Handshake } from './tls13Handshake.js';
import type { HandshakeInfo, KeySource, TlsFailureReason, TlsResult, TlsSink } from './types.js';
import type { HandshakeContext, VersionHandshake } from './versionHandshake.js';

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

/** Decrypts one TCP connection's TLS; see index.ts for the contract. */
export class TlsConnection implements StreamConsumer {
  readonly #info: HandshakeInfo = {
    clientRandom: null,
    sni: null,
    alpnOffered: [],
    alpn: null,
    version: null,
    cipherSuite: null,
    helloRetryRequest: false,
    clientCertificate: null,
    serverCertificates: [],
    alert: null,
  };
  readonly #toServer = new HalfConn('toServer');
  readonly #toClient = new HalfConn('toClient');
  /** The record visitors of the two directions, made once (not a closure per segment); they read the time of the bytes being split. */
  readonly #visitToServer = (record: TlsRecord): boolean => this.#onRecord(this.#toServer, record, this.#toServer.splitTimeNs);
  readonly #visitToClient = (record: TlsRecord): boolean => this.#onRecord(this.#toClient, record, this.#toClient.splitTimeNs);
  /** The first ClientHello, copied: its random names the keys, its offers resume TLS 1.2 sessions. */
  #clientHello: ClientHello | null = null;
  /**
   * Keys and protection of the negotiated version. Until the ServerHello says otherwise records read as
   * TLS 1.2 without keys: everything in the clear, a ChangeCipherSpec ends what can be read.
   */
  #handshake: VersionHandshake;
  #serverHelloSeen = false;
  #decrypted = false;
  #reason: TlsFailureReason | null = null;
  #stopped = false;
  #handshakeReported = false;
  #ended = false;

  readonly #context: HandshakeContext;
  readonly #sink: TlsSink;
  readonly #options: TlsConnectionOptions;

  constructor(
    keys: KeySource,
    sink: TlsSink,
    options: TlsConnectionOptions = {},
  ) {
    this.#sink = sink;
    this.#options = options;
    this.#context = {
      keys,
      toServer: this.#toServer,
      toClient: this.#toClient,
      clientHello: () => this.#clientHello!,
      fail: (reason) => this.#fail(reason),
      note: (reason) => void (this.#reason ??= reason),
    };
    this.#handshake = new Tls12Handshake(this.#context, options.sessions);
  }

  result(): TlsResult {
    return {
      handshake: this.#info,
      decrypted: this.#decrypted,
      reason: this.#reason,
      bytesToServer: this.#toServer.bytes,
      bytesToClient: this.#toClient.bytes,
    };
  }

  onData(direction: Direction, bytes: Uint8Array, timeNs: bigint): void {
    const half = this.#half(direction);
    if (this.#stopped || half.stopped || bytes.length === 0) return;
    if (!half.started) {
      half.started = true;
      if (!startsLikeRecord(bytes)) {
        this.#fail(this.#clientHello ? 'malformed TLS record' : this.#options.joinedMidStream ? 'handshake not captured' : 'not TLS');
        return;
      }
    }
    half.splitTimeNs = timeNs;
    const wellFormed = half.records.push(bytes, half === this.#toServer ? this.#visitToServer : this.#visitToClient);
    if (!wellFormed && !this.#stopped && !half.stopped) this.#fail('malformed TLS record');
  }

  /**
   * Bytes that `onData` will be given later (in order, with nothing else of this direction between): kept
   * until `openAhead`. Taken only in a direction that reads TLS 1.3 application data with AES-GCM; a view
   * kept, not a copy, so the bytes must stay as they are until then.
   */
  lookAhead(direction: Direction, bytes: Uint8Array): void {
    const half = this.#half(direction);
    if (this.#stopped || half.stopped || !half.started || half.trafficSecret === null || !(half.decryptor instanceof Tls13Decryptor)) return;
    (half.ahead ??= []).push(bytes);
  }

  /**
   * Opens the records of the bytes looked ahead at in batches (batchOpen.ts) before `onData` gets them, so that
   * each then finds its record already opened and authenticated. Cut as the record splitter will cut them
   * (from where it is): the records and their order are the ones `onData` will see; a record that differs
   * (length, tag) is opened at its turn as before.
   */
  openAhead(): void {
    for (const half of [this.#toServer, this.#toClient]) {
      const chunks = half.ahead;
      if (!chunks) continue;
      half.ahead = null;
      const batch = (half.decryptor as Tls13Decryptor).batch();
      if (!batch) continue;
      const scanner = half.records.scanAhead(MAX_BATCHED_BODY);
      // Anything but application data (a ChangeCipherSpec) ends the batch there.
      const add = (record: Uint8Array, at: number, bodyLength: number): boolean => {
        if (record[at] !== ContentType.APPLICATION_DATA) return false;
        batch.add(record, at, bodyLength);
        return true;
      };
      for (const chunk of chunks) if (!scanner.push(chunk, add)) break;
      batch.done();
    }
  }

  onGap(direction: Direction, _missingBytes?: number, _timeNs?: bigint): void {
    const half = this.#half(direction);
    if (this.#stopped || half.stopped) return;
    half.stopped = true;
    this.#reason ??= 'stream incomplete (lost segments)';
  }

  onEnd(end: ConnectionEnd, _endNs: bigint): void {
    if (this.#ended) return;
    this.#ended = true;
    if (end === 'refused') this.#reason ??= 'refused (RST)';
    for (const half of [this.#toServer, this.#toClient]) {
      // A record cut off by the end of the capture or connection.
      if (!this.#stopped && !half.stopped && half.records.buffered > 0) this.#reason ??= 'stream incomplete (lost segments)';
    }
    if (!this.#clientHello && !this.#reason) {
      this.#reason = this.#options.joinedMidStream ? 'handshake not captured' : 'not TLS';
    }
    // Nothing decrypted and no failure: the handshake did not complete within the capture.
    if (!this.#decrypted && !this.#reason) this.#reason = 'handshake not captured';
    this.#reportHandshake();
    this.#sink.onEnd?.(this.result());
  }

  #half(direction: Direction): HalfConn {
    return direction === 'toServer' ? this.#toServer : this.#toClient;
  }

  /** Handles one record; false stops the splitter. */
  #onRecord(half: HalfConn, record: TlsRecord, timeNs: bigint): boolean {
    if (this.#stopped || half.stopped) return false;
    if (!this.#clientHello) {
      const isClientHello = half === this.#toServer && record.type === ContentType.HANDSHAKE && record.body[0] === HandshakeType.CLIENT_HELLO;
      // The server's answer before the ClientHello: the capture reordered the directions; wait for the hello.
      if (half === this.#toClient) return this.#hold(half, record, timeNs);
      if (!isClientHello) {
        this.#fail('handshake not captured');
        return false;
      }
    }
    const beforeServerHello = half === this.#toServer ? this.#clientHello !== null : record.type !== ContentType.HANDSHAKE;
    // Which keys apply is known only from the ServerHello: hold what follows the ClientHello until then
    // (it arrives first only when the capture reordered the two directions).
    if (!this.#serverHelloSeen && beforeServerHello) return this.#hold(half, record, timeNs);
    if (half.encrypted && this.#handshake.isProtected(record.type)) {
      const opened = half.decryptor?.open(record.type, record.version, record.header, record.body);
      if (!opened) {
        this.#fail(half.decryptor ? 'decryption failed (wrong keys)' : 'no keys for client random');
        return false;
      }
      this.#decrypted = true;
      return this.#onPlaintext(half, opened.type, opened.plaintext, timeNs, true);
    }
    return this.#onPlaintext(half, record.type, record.body, timeNs, false);
  }

  #onPlaintext(half: HalfConn, type: number, data: Uint8Array, timeNs: bigint, wasProtected: boolean): boolean {
    switch (type) {
      case ContentType.HANDSHAKE: {
        const messages = half.messages.push(data);
        if (!messages) {
          this.#fail('malformed TLS record');
          return false;
        }
        for (const message of messages) {
          this.#onHandshakeMessage(half, message.type, message.body, wasProtected);
          if (this.#stopped || half.stopped) return false;
        }
        return true;
      }
      case ContentType.CHANGE_CIPHER_SPEC:
        return this.#handshake.onChangeCipherSpec(half);
      case ContentType.APPLICATION_DATA:
        if (!wasProtected) {
          this.#fail('handshake not captured');
          return false;
        }
        this.#reportHandshake();
        half.bytes += data.length;
        this.#sink.onApplicationData(half.direction, data, timeNs);
        return true;
      case ContentType.ALERT: {
        // A server refusing a client certificate says why here (TLS 1.3: under the keys we hold).
        const alert = parseAlert(data);
        if (alert && alert.code !== CLOSE_NOTIFY && !this.#info.alert) {
          this.#info.alert = {
            from: half.direction === 'toServer' ? 'client' : 'server',
            fatal: alert.fatal,
            description: alertName(alert.code),
            duringHandshake: half.bytes === 0,
          };
        }
        return true;
      }
      default:
        return true; // heartbeats: nothing to report
    }
  }

  /** Reads what the handshake says; the version's handshake takes what concerns keys. */
  #onHandshakeMessage(half: HalfConn, type: number, body: Uint8Array, wasProtected: boolean): void {
    switch (type) {
      case HandshakeType.CLIENT_HELLO: {
        if (half !== this.#toServer || this.#clientHello) return; // the second ClientHello after a retry
        const hello = parseClientHello(body);
        if (!hello) return this.#fail('malformed TLS record');
        this.#clientHello = {
          ...hello,
          random: Buffer.from(hello.random),
          sessionId: Buffer.from(hello.sessionId),
          sessionTicket: Buffer.from(hello.sessionTicket),
        };
        this.#info.clientRandom = Buffer.from(hello.random).toString('hex');
        this.#info.sni = hello.sni;
        this.#info.alpnOffered = hello.alpn;
        this.#replayWaiting();
        return;
      }
      case HandshakeType.SERVER_HELLO: {
        if (half !== this.#toClient || this.#serverHelloSeen) return;
        const hello = parseServerHello(body);
        if (!hello) return this.#fail('malformed TLS record');
        if (hello.helloRetryRequest) {
          this.#info.helloRetryRequest = true;
          return;
        }
        this.#serverHelloSeen = true;
        this.#info.version = VERSION_NAMES[hello.version] ?? `0x${hello.version.toString(16)}`;
        this.#info.cipherSuite = cipherSuiteName(hello.cipherSuite);
        if (hello.alpn) this.#info.alpn = hello.alpn;
        if (hello.version === TLS13) this.#handshake = new Tls13Handshake(this.#context);
        this.#handshake.start(hello, decryptableSuite(hello));
        this.#replayWaiting();
        return;
      }
      case HandshakeType.ENCRYPTED_EXTENSIONS:
        if (half === this.#toClient) this.#info.alpn = parseEncryptedExtensionsAlpn(body);
        return;
      case HandshakeType.CERTIFICATE: {
        const ders = parseCertificateList(body, this.#handshake.tls13);
        if (!ders) return this.#fail('malformed TLS record');
        const certificates = ders.map(describeCertificate).filter((c) => c !== null);
        if (half === this.#toClient) this.#info.serverCertificates = certificates;
        else this.#info.clientCertificate = certificates[0] ?? null;
        return;
      }
      default:
        this.#handshake.onMessage(half, type, body, wasProtected);
    }
  }

  /** Keeps a record (copied) until the handshake tells how to read it; too many means it never will. */
  #hold(half: HalfConn, record: TlsRecord, timeNs: bigint): boolean {
    if (half.waiting.length >= MAX_WAITING_RECORDS) {
      this.#fail('handshake not captured');
      return false;
    }
    half.waiting.push({ record: copyRecord(record), timeNs });
    return true;
  }

  #replayWaiting(): void {
    for (const half of [this.#toServer, this.#toClient]) {
      const waiting = half.waiting;
      half.waiting = [];
      for (const { record, timeNs } of waiting) {
        if (!this.#onRecord(half, record, timeNs)) break;
      }
    }
  }

  #reportHandshake(): void {
    if (this.#handshakeReported) return;
    this.#handshakeReported = true;
    this.#sink.onHandshake?.(this.#info);
  }

  #fail(reason: TlsFailureReason): void {
    this.#reason ??= reason;
    this.#stopped = true;
    this.#toServer.waiting = [];
    this.#toClient.waiting = [];
  }
}

/** The suite the ServerHello chose, if we can decrypt it in the version it chose. */
function decryptableSuite(hello: ServerHello): CipherSuite | null {
  const suite = findCipherSuite(hello.cipherSuite);
  const tls13 = hello.version === TLS13;
  if (!suite || !suite.cipher || (hello.version !== TLS12 && !tls13) || suite.tls13 !== tls13) return null;
  return suite;
}

function copyRecord(record: TlsRecord): TlsRecord {
  const header = Uint8Array.prototype.slice.call(record.header);
  return { ...record, header, body: Uint8Array.prototype.slice.call(record.body) };
}
