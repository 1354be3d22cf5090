/**
 * One TCP connection through the analysis: TLS decryption (src/tls) feeding an HTTP decoder chosen by
 * ALPN or by the first client bytes, producing the AnalyzedConnection and its requests. Connections
 * that start with plain HTTP skip TLS. A connection joined mid-stream (no SYN, no hello) for which the
 * key log has mid-stream secrets of its 5-tuple is decrypted from them (src/tls/midstream.ts), and its
 * HTTP/2 decoded from wherever the capture joined.
 */
import type { ConnectionEnd, ConnectionInfo, Direction, Endpoint, StreamConsumer } from '../net/index.js';
import { MidstreamTlsConnection, TlsConnection, type HandshakeInfo, type KeySource, type MidstreamKeys, type Tls12SessionCache, type TlsResult, type TlsSink } from '../tls/index.js';
import { createHttpDecoder, detectHttpProtocol, type BodyBudget, looksLikeHttp2Frames, type HttpConnectionDecoder, type HttpExchange, type HttpProtocol } from '../http/index.js';
import { formatRfc3339Ns } from '../keylog/index.js';
import type { LiveConnection, LiveConnections } from './liveConns.js';
import { tlsConnectionFor, type LooksAhead } from './packets.js';
import { analyzeRequest, rejectingAlert, type AnalyzedConnection, type AnalyzedRequest, type CredentialCache } from '../report/index.js';

/** Server bytes held while waiting for the client's first bytes to tell the protocol (no ALPN). */
const MAX_HELD_SERVER_BYTES = 1 << 20;
/** Decrypted bytes held, joined mid-stream, until three frames in a row show HTTP/2 (frames may be 1 MiB). */
const MAX_HELD_JOINED_BYTES = 4 << 20;

export interface ConnectionCallbacks {
  onRequest(request: AnalyzedRequest, connection: AnalyzedConnection): void;
  /** Segments the capture lost (a hole in a stream), for the status line. */
  onGap?(): void;
  /** Shared by the connections of a run: each token is decoded once. */
  credentials: CredentialCache;
  /** Keep request/response bodies (gunzipped). */
  bodies: boolean;
  /** What the bodies of all connections may take in all. */
  bodyBudget?: BodyBudget;
  /** What the live process said about connections (analyze --conns). */
  live?: LiveConnections;
}

const seconds = (ns: bigint): number => Number(ns) / 1e9;

/** A TLS record header that opens a handshake: the capture has the hello, whatever else it lacks. */
const startsWithHandshake = (bytes: Uint8Array): boolean => bytes[0] === 22 && bytes[1] === 3;
const opposite = (d: Direction): Direction => (d === 'toServer' ? 'toClient' : 'toServer');

export class AnalyzedTcpConnection implements StreamConsumer, LooksAhead {
  readonly connection: AnalyzedConnection;
  #tls: TlsConnection | MidstreamTlsConnection;
  readonly #tlsSink: TlsSink;
  /** Decided at the first bytes: whether mid-stream keys apply, and whether they name the roles the other way round. */
  #midstreamDecided: boolean;
  #joined = false;
  #swapped = false;
  /** The live process's view of this connection, when its handshake is not in the capture. */
  #live: LiveConnection | null = null;
  /** Joined mid-stream: decrypted bytes of both directions until the protocol is recognised. */
  #joinedHeld: Array<{ direction: Direction; data: Uint8Array; time: number }> = [];
  #http: HttpConnectionDecoder | null = null;
  /** Decided by the client's first bytes: an HTTP request line or preface means no TLS. */
  #plaintext: boolean | null = null;
  #undecidable = false;
  #held: Array<{ data: Uint8Array; time: number }> = [];
  #heldBytes = 0;
  readonly #keys: KeySource;
  readonly #callbacks: ConnectionCallbacks;

  /** `node`: the capture (node label) whose packet opened it. */
  constructor(info: ConnectionInfo, keys: KeySource, sessions: Tls12SessionCache, callbacks: ConnectionCallbacks, node: string) {
    this.#keys = keys;
    this.#callbacks = callbacks;
    this.connection = {
      id: info.id,
      client: info.client,
      server: info.server,
      startTimeSeconds: seconds(info.startNs),
      sni: null,
      alpn: null,
      tlsVersion: null,
      cipherSuite: null,
      decrypted: false,
      reason: null,
      clientCertificate: null,
      serverCertificate: null,
      handshakeSeen: false,
      alert: null,
      rejected: null,
      protocol: null,
      httpError: null,
      bytesToServer: 0,
      bytesToClient: 0,
      plaintextBytesToServer: 0,
      plaintextBytesToClient: 0,
      requestCount: 0,
      calls: {},
      nodes: [node],
    };
    this.#tlsSink = {
      onHandshake: (h) => this.#onHandshake(h),
      onApplicationData: (direction, data, timeNs) => this.#onPlaintext(direction, data, seconds(timeNs)),
      onEnd: (result) => this.#onTlsEnd(result),
    };
    this.#tls = tlsConnectionFor(info, keys, sessions, this.#tlsSink);
    this.#midstreamDecided = info.synSeen;
  }
  /** A packet of this connection came from the capture of `node` (the same connection seen on several nodes). */
  seenOn(node: string): void {
    if (!this.connection.nodes.includes(node)) this.connection.nodes.push(node);
  }


  onData(direction: Direction, bytes: Uint8Array, timeNs: bigint): void {
    if (!this.#midstreamDecided) this.#decideMidstream(bytes);
    if (this.#swapped) direction = opposite(direction);
    // What flowed, whether or not it can be decrypted: the TCP payload (for TLS, the records).
    if (direction === 'toServer') this.connection.bytesToServer += bytes.length;
    else this.connection.bytesToClient += bytes.length;
    // Plain HTTP (metrics, health ports, h2c) is decoded as is; the connection still reads "not TLS".
    if (this.#plaintext === null && direction === 'toServer') {
      this.#plaintext = detectHttpProtocol(undefined, bytes) !== null;
      // Plain HTTP carries no client certificate: a request without a token is anonymous.
      if (this.#plaintext) this.connection.handshakeSeen = true;
    }
    if (this.#plaintext) this.#onPlaintext(direction, Buffer.from(bytes), seconds(timeNs));
    else this.#tls.onData(direction, bytes, timeNs);
  }
  /** TLS of a connection already under way looks ahead (PacketPipeline); its first bytes decide things first. */
  lookAhead(direction: Direction, bytes: Uint8Array): void {
    if (!this.#midstreamDecided || this.#plaintext !== false || !(this.#tls instanceof TlsConnection)) return;
    this.#tls.lookAhead(this.#swapped ? opposite(direction) : direction, bytes);
  }
  openAhead(): void {
    if (this.#tls instanceof TlsConnection) this.#tls.openAhead();
  }

  onGap(direction: Direction): void {
    this.#callbacks.onGap?.();
    if (this.#swapped) direction = opposite(direction);
    if (this.#plaintext) {
      // HTTP cannot resume after lost bytes: what was decoded stays, the rest is ignored.
      this.connection.httpError ??= 'stream incomplete (lost segments)';
      this.#undecidable = true;
    }
    this.#tls.onGap(direction);
  }
  onEnd(end: ConnectionEnd, endNs: bigint): void {
    this.#tls.onEnd(end, endNs);
  }

  /**
   * A connection joined without its handshake uses the key log's mid-stream secrets for its 5-tuple — in
   * either orientation: without a SYN the reassembler may have guessed the roles the other way round.
   */
  #decideMidstream(firstBytes: Uint8Array): void {
    this.#midstreamDecided = true;
    if (startsWithHandshake(firstBytes)) return;
    const c = this.connection;
    // The live process knows the roles for certain.
    const found = this.#callbacks.live?.find(c.client, c.server);
    if (found) {
      this.#live = found.live;
      if (found.swapped) this.#swapRoles();
      this.#applyLive();
    }
    if (!this.#keys.midstream) return;
    const lookup = (client: Endpoint, server: Endpoint): MidstreamKeys => ({
      toServer: this.#keys.midstream!(client, server, 'client'),
      toClient: this.#keys.midstream!(client, server, 'server'),
    });
    let keys = lookup(c.client, c.server);
    if (keys.toServer.length + keys.toClient.length === 0) {
      if (found) return;
      keys = lookup(c.server, c.client);
      if (keys.toServer.length + keys.toClient.length === 0) return;
      this.#swapRoles();
    }
    this.#joined = true;
    this.#tls = new MidstreamTlsConnection(keys, this.#tlsSink);
  }

  #swapRoles(): void {
    const c = this.connection;
    this.#swapped = true;
    [c.client, c.server] = [c.server, c.client];
  }

  /** Fills in from the live process what the capture cannot tell without the handshake. */
  #applyLive(): void {
    const live = this.#live;
    if (!live) return;
    const c = this.connection;
    c.alpn ??= live.alpn;
    c.sni ??= live.sni;
    c.tlsVersion ??= live.tlsVersion;
    c.cipherSuite ??= live.cipherSuite;
    if (!c.clientCertificate && live.clientCertificate) {
      c.clientCertificate = live.clientCertificate;
      c.identitySource = 'live process';
    }
  }

  #onHandshake(h: HandshakeInfo): void {
    const c = this.connection;
    c.sni = h.sni;
    c.alpn = h.alpn;
    c.tlsVersion = h.version;
    c.cipherSuite = h.cipherSuite;
    c.clientCertificate = h.clientCertificate;
    c.serverCertificate = h.serverCertificates[0] ?? null;
    c.handshakeSeen ||= h.clientRandom !== null;
    c.alert = h.alert;
    c.rejected = rejectingAlert(h.alert);
    if (h.clientCertificate) c.identitySource = 'handshake';
    else c.identitySource = undefined;
    this.#applyLive();
  }

  #onPlaintext(direction: Direction, data: Uint8Array, time: number): void {
    if (this.#undecidable) return;
    if (!this.#http && this.#joined) return this.#onJoinedPlaintext(direction, data, time);
    if (!this.#http) {
      if (direction === 'toClient') {
        if (this.#heldBytes + data.length <= MAX_HELD_SERVER_BYTES) {
          this.#held.push({ data, time });
          this.#heldBytes += data.length;
        }
        if (this.connection.alpn === null) return;
      }
      const protocol = detectHttpProtocol(this.connection.alpn ?? undefined, direction === 'toServer' ? data : new Uint8Array(0));
      if (!protocol) {
        this.#undecidable = true;
        this.#held = [];
        return;
      }
      const http = this.#startHttp(protocol, false);
      if (direction === 'toClient') {
        // ALPN decided it: the held bytes include this one.
        this.#replayHeld();
        return;
      }
      http.client(data, time);
      this.#replayHeld();
      return;
    }
    if (direction === 'toServer') this.#http.client(data, time);
    else this.#http.server(data, time);
  }

  /**
   * Joined mid-stream there is no ALPN and no preface: the protocol is HTTP/2 when a direction's bytes
   * resynchronise as frames. (HTTP/1.1 cannot be resumed inside a body and is left undecoded.)
   */
  #onJoinedPlaintext(direction: Direction, data: Uint8Array, time: number, final = false): void {
    this.#joinedHeld.push({ direction, data, time });
    this.#heldBytes += data.length;
    const bytes = Buffer.concat(this.#joinedHeld.filter((h) => h.direction === direction).map((h) => h.data));
    // ALPN from the live process decides; else the bytes must read as frames.
    const alpn = this.connection.alpn;
    const h2 = alpn !== null ? alpn === 'h2' : this.#heldBytes > MAX_HELD_JOINED_BYTES ? false : looksLikeHttp2Frames(bytes, final);
    if (h2 === null) return;
    const held = this.#joinedHeld;
    this.#joinedHeld = [];
    this.#heldBytes = 0;
    if (!h2) {
      this.#undecidable = true;
      // HTTP/1.1 cannot be picked up inside a message: said so rather than "not HTTP".
      this.connection.httpError = alpn === 'http/1.1' ? 'HTTP/1.1 joined mid-stream is not decoded' : 'not HTTP/2 (joined mid-stream)';
      return;
    }
    const http = this.#startHttp('h2', true);
    for (const h of held) {
      if (h.direction === 'toServer') http.client(h.data, h.time);
      else http.server(h.data, h.time);
    }
  }

  #startHttp(protocol: HttpProtocol, joinedMidStream: boolean): HttpConnectionDecoder {
    this.#http = createHttpDecoder(protocol, {
      bodies: this.#callbacks.bodies,
      bodyBudget: this.#callbacks.bodyBudget,
      joinedMidStream,
      onExchange: (exchange: HttpExchange) => {
        const request = analyzeRequest(this.connection, exchange, this.#callbacks.credentials);
        // A create's body is kept only to name its object; it goes unless bodies were asked for.
        if (!this.#callbacks.bodies) delete exchange.requestBody;
        this.#callbacks.onRequest(request, this.connection);
      },
    });
    this.connection.protocol = protocol;
    return this.#http;
  }

  #replayHeld(): void {
    for (const { data, time } of this.#held) this.#http!.server(data, time);
    this.#held = [];
    this.#heldBytes = 0;
  }

  #onTlsEnd(result: TlsResult): void {
    const c = this.connection;
    this.#onHandshake(result.handshake);
    c.decrypted = result.decrypted;
    c.reason = result.reason;
    c.plaintextBytesToServer = result.bytesToServer;
    c.plaintextBytesToClient = result.bytesToClient;
    // Whatever is still held decides now (a short connection may never have filled three frames).
    for (const direction of ['toServer', 'toClient'] as const) {
      const last = this.#joinedHeld.filter((h) => h.direction === direction).pop();
      if (!this.#http && !this.#undecidable && last) this.#onJoinedPlaintext(direction, new Uint8Array(0), last.time, true);
    }
    if (this.#http) {
      this.#http.end();
      c.httpError ??= this.#http.error ?? null;
    } else if (this.#undecidable) {
      c.httpError ??= 'not HTTP';
    }
    const m = result.midstream;
    if (m) {
      c.midstream = {
        joinedAt: m.joinedAtNs === null ? null : formatRfc3339Ns(m.joinedAtNs),
        unrecoverableHeaderFields: this.#http?.unrecoverableHeaderFields ?? 0,
        toServer: m.toServer,
        toClient: m.toClient,
      };
    }
  }
}
