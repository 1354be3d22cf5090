import { ByteReader, Truncated } from './reader.js';
import type { SenderHeuristic } from '../net/index.js';
import { handshakeTypeAtStart } from './records.js';

/** Handshake message types (RFC 8446 §4, RFC 5246 §7.4). */
export const HandshakeType = {
  CLIENT_HELLO: 1,
  SERVER_HELLO: 2,
  NEW_SESSION_TICKET: 4,
  END_OF_EARLY_DATA: 5,
  ENCRYPTED_EXTENSIONS: 8,
  CERTIFICATE: 11,
  SERVER_KEY_EXCHANGE: 12,
  CERTIFICATE_REQUEST: 13,
  SERVER_HELLO_DONE: 14,
  CERTIFICATE_VERIFY: 15,
  CLIENT_KEY_EXCHANGE: 16,
  FINISHED: 20,
  KEY_UPDATE: 24,
} as const;

const Extension = {
  SERVER_NAME: 0,
  ALPN: 16,
  ENCRYPT_THEN_MAC: 22,
  SESSION_TICKET: 35,
  SUPPORTED_VERSIONS: 43,
  KEY_SHARE: 51,
} as const;

/** SHA-256("HelloRetryRequest"): the ServerHello.random that marks a HelloRetryRequest (RFC 8446 §4.1.3). */
const HELLO_RETRY_RANDOM = Buffer.from('cf21ad74e59a6111be1d8c021e65b891c2a211167abb8c5e079e09e2c8a8339c', 'hex');

export interface ClientHello {
  random: Uint8Array;
  /** TLS 1.2 resumption offers: the session ID and the ticket (empty when none). */
  sessionId: Uint8Array;
  sessionTicket: Uint8Array;
  cipherSuites: number[];
  sni: string | null;
  alpn: string[];
  supportedVersions: number[];
  keyShareGroups: number[];
}

export interface ServerHello {
  random: Uint8Array;
  sessionId: Uint8Array;
  cipherSuite: number;
  /** The negotiated version: supported_versions if present, else legacy_version. */
  version: number;
  alpn: string | null;
  helloRetryRequest: boolean;
  /** RFC 7366 negotiated: CBC records carry their MAC after the ciphertext. */
  encryptThenMac: boolean;
}

/** Record header (5) + handshake header (4) + legacy_version (2): where the random of a ClientHello record starts. */
const CLIENT_HELLO_RANDOM_OFFSET = 11;

/**
 * The random of the ClientHello that starts `payload` (a client's first bytes start a TCP segment), if that is
 * what it holds: only the record and handshake headers are checked, cheap enough for every packet of a capture.
 * A view into `payload`.
 */
export function clientHelloRandomOf(payload: Uint8Array): Uint8Array | undefined {
  if (payload.length < CLIENT_HELLO_RANDOM_OFFSET + 32 || handshakeTypeAtStart(payload) !== HandshakeType.CLIENT_HELLO) return undefined;
  return payload.subarray(CLIENT_HELLO_RANDOM_OFFSET, CLIENT_HELLO_RANDOM_OFFSET + 32);
}

/** For TCP reassembly of a connection joined in the middle: the side sending a ClientHello is the client, a ServerHello the server. */
export const tlsHelloSender: SenderHeuristic = {
  name: 'tls',
  isFromClient(payload) {
    const type = handshakeTypeAtStart(payload);
    return type === HandshakeType.CLIENT_HELLO ? true : type === HandshakeType.SERVER_HELLO ? false : undefined;
  },
};

/** Parses a ClientHello body (after the 4-byte handshake header); null when malformed. */
export function parseClientHello(body: Uint8Array): ClientHello | null {
  return guarded(() => {
    const r = new ByteReader(body);
    r.u16(); // legacy_version
    const random = r.take(32);
    const sessionId = r.vector(1).rest();
    const suites = r.vector(2);
    const cipherSuites: number[] = [];
    while (suites.remaining >= 2) cipherSuites.push(suites.u16());
    r.vector(1); // compression methods
    const hello: ClientHello = {
      random,
      sessionId,
      sessionTicket: new Uint8Array(0),
      cipherSuites,
      sni: null,
      alpn: [],
      supportedVersions: [],
      keyShareGroups: [],
    };
    if (r.remaining === 0) return hello;
    forEachExtension(r.vector(2), (type, data) => {
      if (type === Extension.SERVER_NAME) hello.sni = parseServerName(data);
      else if (type === Extension.ALPN) hello.alpn = parseAlpnList(data);
      else if (type === Extension.SESSION_TICKET) hello.sessionTicket = data.rest();
      else if (type === Extension.SUPPORTED_VERSIONS) {
        const list = data.vector(1);
        while (list.remaining >= 2) hello.supportedVersions.push(list.u16());
      } else if (type === Extension.KEY_SHARE) {
        const shares = data.vector(2);
        while (shares.remaining > 0) {
          hello.keyShareGroups.push(shares.u16());
          shares.vector(2);
        }
      }
    });
    return hello;
  });
}

/** Parses a ServerHello (or HelloRetryRequest) body; null when malformed. */
export function parseServerHello(body: Uint8Array): ServerHello | null {
  return guarded(() => {
    const r = new ByteReader(body);
    const legacyVersion = r.u16();
    const random = r.take(32);
    const sessionId = r.vector(1).rest();
    const cipherSuite = r.u16();
    r.u8(); // compression method
    const hello: ServerHello = {
      random,
      sessionId,
      cipherSuite,
      version: legacyVersion,
      alpn: null,
      helloRetryRequest: Buffer.from(random.buffer, random.byteOffset, 32).equals(HELLO_RETRY_RANDOM),
      encryptThenMac: false,
    };
    if (r.remaining === 0) return hello;
    forEachExtension(r.vector(2), (type, data) => {
      if (type === Extension.SUPPORTED_VERSIONS) hello.version = data.u16();
      else if (type === Extension.ALPN) hello.alpn = parseAlpnList(data)[0] ?? null;
      else if (type === Extension.ENCRYPT_THEN_MAC) hello.encryptThenMac = true;
    });
    return hello;
  });
}

/** The ALPN protocol a TLS 1.3 server selected in EncryptedExtensions; null when absent or malformed. */
export function parseEncryptedExtensionsAlpn(body: Uint8Array): string | null {
  return guarded(() => {
    let alpn: string | null = null;
    forEachExtension(new ByteReader(body).vector(2), (type, data) => {
      if (type === Extension.ALPN) alpn = parseAlpnList(data)[0] ?? null;
    });
    return alpn;
  });
}

/** The ticket of a TLS 1.2 NewSessionTicket (RFC 5077: lifetime hint, ticket); null when malformed. */
export function parseTls12SessionTicket(body: Uint8Array): Uint8Array | null {
  return guarded(() => {
    const r = new ByteReader(body);
    r.take(4); // ticket_lifetime_hint
    return r.vector(2).rest();
  });
}

/** The DER certificates of a Certificate message, leaf first; null when malformed. */
export function parseCertificateList(body: Uint8Array, tls13: boolean): Uint8Array[] | null {
  return guarded(() => {
    const r = new ByteReader(body);
    if (tls13) r.vector(1); // certificate_request_context
    const list = r.vector(3);
    const certificates: Uint8Array[] = [];
    while (list.remaining > 0) {
      certificates.push(list.vector(3).rest());
      if (tls13) list.vector(2); // per-certificate extensions
    }
    return certificates;
  });
}

function forEachExtension(list: ByteReader, visit: (type: number, data: ByteReader) => void): void {
  while (list.remaining > 0) {
    const type = list.u16();
    visit(type, list.vector(2));
  }
}

function parseServerName(data: ByteReader): string | null {
  const list = data.vector(2);
  while (list.remaining > 0) {
    const nameType = list.u8();
    const name = list.vector(2).rest();
    if (nameType === 0) return Buffer.from(name).toString('latin1');
  }
  return null;
}

function parseAlpnList(data: ByteReader): string[] {
  const list = data.vector(2);
  const protocols: string[] = [];
  while (list.remaining > 0) protocols.push(Buffer.from(list.vector(1).rest()).toString('latin1'));
  return protocols;
}

function guarded<T>(parse: () => T): T | null {
  try {
    return parse();
  } catch (err) {
    if (err instanceof Truncated) return null;
    throw err;
  }
}
