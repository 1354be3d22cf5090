/**
 * One TCP connection through the analysis: TLS decryption (src/tls) feeding an HTTP decoder chosen by
 * ALPN or by the first client bytes, producing the AnalyzedConnection and its requests. Connections
 * that start with plain HTTP skip TLS.
 */
import type { ConnectionEnd, ConnectionInfo, Direction, StreamConsumer } from '../net/index.js';
import { TlsConnection, type HandshakeInfo, type KeySource, type Tls12SessionCache, type TlsResult } from '../tls/index.js';
import { createHttpDecoder, detectHttpProtocol, type HttpConnectionDecoder, type HttpExchange } from '../http/index.js';
import { analyzeRequest, rejectingAlert, type AnalyzedConnection, type AnalyzedRequest, type CredentialCache } from '../report/index.js';

/** Server bytes held while waiting for the client's first bytes to tell the protocol (no ALPN). */
const MAX_HELD_SERVER_BYTES = 1 << 20;

export interface ConnectionCallbacks {
  onRequest(request: AnalyzedRequest, connection: AnalyzedConnection): void;
  /** Shared by the connections of a run: each token is decoded once. */
  credentials: CredentialCache;
  /** Keep request/response bodies (gunzipped). */
  bodies: boolean;
}

const seconds = (ns: bigint): number => Number(ns) / 1e9;

export class AnalyzedTcpConnection implements StreamConsumer {
  readonly connection: AnalyzedConnection;
  private readonly tls: TlsConnection;
  private http: HttpConnectionDecoder | null = null;
  /** Decided by the client's first bytes: an HTTP request line or preface means no TLS. */
  private plaintext: boolean | null = null;
  private undecidable = false;
  private held: Array<{ data: Uint8Array; time: number }> = [];
  private heldBytes = 0;

  constructor(info: ConnectionInfo, keys: KeySource, sessions: Tls12SessionCache, private readonly callbacks: ConnectionCallbacks) {
    this.connection = {
      id: info.id,
      client: info.client,
      server: info.server,
      startTime: seconds(info.startNs),
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
      requestCount: 0,
      calls: {},
    };
    this.tls = new TlsConnection(
      keys,
      {
        onHandshake: (h) => this.onHandshake(h),
        onApplicationData: (direction, data, timeNs) => this.onPlaintext(direction, data, seconds(timeNs)),
        onEnd: (result) => this.onTlsEnd(result),
      },
      { joinedMidStream: !info.synSeen, sessions },
    );
  }

  onData(direction: Direction, bytes: Uint8Array, timeNs: bigint): void {
    // Plain HTTP (metrics, health ports, h2c) is decoded as is; the connection still reads "not TLS".
    if (this.plaintext === null && direction === 'toServer') {
      this.plaintext = detectHttpProtocol(undefined, bytes) !== null;
      // Plain HTTP carries no client certificate: a request without a token is anonymous.
      if (this.plaintext) this.connection.handshakeSeen = true;
    }
    if (this.plaintext) this.onPlaintext(direction, Buffer.from(bytes), seconds(timeNs));
    else this.tls.onData(direction, bytes, timeNs);
  }
  onGap(direction: Direction): void {
    if (this.plaintext) {
      // HTTP cannot resume after lost bytes: what was decoded stays, the rest is ignored.
      this.connection.httpError ??= 'stream incomplete (lost segments)';
      this.undecidable = true;
    }
    this.tls.onGap(direction);
  }
  onEnd(end: ConnectionEnd, endNs: bigint): void {
    this.tls.onEnd(end, endNs);
  }

  private onHandshake(h: HandshakeInfo): void {
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
  }

  private onPlaintext(direction: Direction, data: Uint8Array, time: number): void {
    if (this.undecidable) return;
    if (!this.http) {
      if (direction === 'toClient') {
        if (this.heldBytes + data.length <= MAX_HELD_SERVER_BYTES) {
          this.held.push({ data, time });
          this.heldBytes += data.length;
        }
        if (this.connection.alpn === null) return;
      }
      const protocol = detectHttpProtocol(this.connection.alpn ?? undefined, direction === 'toServer' ? data : new Uint8Array(0));
      if (!protocol) {
        this.undecidable = true;
        this.held = [];
        return;
      }
      this.http = createHttpDecoder(protocol, {
        bodies: this.callbacks.bodies,
        onExchange: (exchange: HttpExchange) => this.callbacks.onRequest(analyzeRequest(this.connection, exchange, this.callbacks.credentials), this.connection),
      });
      this.connection.protocol = protocol;
      if (direction === 'toClient') {
        // ALPN decided it: the held bytes include this one.
        this.replayHeld();
        return;
      }
      this.http.client(data, time);
      this.replayHeld();
      return;
    }
    if (direction === 'toServer') this.http.client(data, time);
    else this.http.server(data, time);
  }

  private replayHeld(): void {
    for (const { data, time } of this.held) this.http!.server(data, time);
    this.held = [];
    this.heldBytes = 0;
  }

  private onTlsEnd(result: TlsResult): void {
    const c = this.connection;
    this.onHandshake(result.handshake);
    c.decrypted = result.decrypted;
    c.reason = result.reason;
    c.bytesToServer = result.bytesToServer;
    c.bytesToClient = result.bytesToClient;
    if (this.http) {
      this.http.end();
      c.httpError ??= this.http.error ?? null;
    } else if (this.undecidable) {
      c.httpError = 'not HTTP';
    }
  }
}
