/** One HTTP request/response pair as decoded from a connection, whatever the protocol version. */
import { gunzipSync } from 'node:zlib';
import type { HeaderField } from './hpack.js';

export type HttpProtocol = 'h2' | 'http/1.1';

export interface HttpExchange {
  protocol: HttpProtocol;
  /** HTTP/2 stream id; for HTTP/1.1 the request's 1-based position on its connection. */
  streamId: number;
  method?: string;
  path?: string;
  authority?: string;
  scheme?: string;
  /** Final (non-1xx) status. */
  status?: number;
  userAgent?: string;
  contentType?: string;
  contentEncoding?: string;
  requestHeaders: HeaderField[];
  responseHeaders: HeaderField[];
  /** Trailer fields of both directions (gRPC puts its status there). */
  trailers: HeaderField[];
  /** Body octets as sent (before content decoding), padding excluded. */
  requestBodyBytes: number;
  responseBodyBytes: number;
  /** Capture times (seconds since the epoch) of the first and last frame of the exchange. */
  firstTimeSeconds: number;
  lastTimeSeconds: number;
  grpcStatus?: number;
  grpcMessage?: string;
  /** Why the exchange ended early: RST_STREAM's error code name, or "connection ended". */
  reset?: string;
  /** Both directions ended normally. */
  complete: boolean;
  /** Joined mid-stream: header fields of this exchange that refer to HPACK entries never seen. */
  unrecoverableHeaderFields?: number;
  /** Joined mid-stream: the stream was opened before the capture joined (its request was not seen). */
  openedBeforeJoin?: boolean;
  /** Bodies, content-decoded when gzip, only when the decoder was asked for them. */
  requestBody?: Buffer;
  responseBody?: Buffer;
}

export interface HttpDecoderOptions {
  /** Called as each exchange completes (or is cut off at the end of the connection). */
  onExchange: (exchange: HttpExchange) => void;
  /** Keep bodies (and gunzip them when content-encoding says gzip). */
  bodies?: boolean;
  /** What the kept bodies may take in all, shared by the connections of a run (default: a budget of this decoder's own). */
  bodyBudget?: BodyBudget;
  /** The bytes start somewhere in the middle of the connection (HTTP/2 only: frames are resynchronised). */
  joinedMidStream?: boolean;
}

/** The interface both protocol decoders present to the analysis pipeline. */
export interface HttpConnectionDecoder {
  readonly protocol: HttpProtocol;
  /** Bytes each way with their capture time, seconds since the epoch (the unit of firstTimeSeconds). */
  client(chunk: Uint8Array, timeSeconds: number): void;
  server(chunk: Uint8Array, timeSeconds: number): void;
  /** The connection ended (or the capture did): flush unfinished exchanges. */
  end(): void;
  /** The first protocol error, after which the connection's remaining bytes were ignored. */
  readonly error: string | undefined;
  /** Joined mid-stream: header fields that refer to HPACK entries never seen (left out, never guessed). */
  readonly unrecoverableHeaderFields?: number;
}

export function newExchange(protocol: HttpProtocol, streamId: number, timeSeconds: number): HttpExchange {
  return {
    protocol,
    streamId,
    requestHeaders: [],
    responseHeaders: [],
    trailers: [],
    requestBodyBytes: 0,
    responseBodyBytes: 0,
    firstTimeSeconds: timeSeconds,
    lastTimeSeconds: timeSeconds,
    complete: false,
  };
}

export const headerValue = (fields: readonly HeaderField[], name: string): string | undefined =>
  fields.find((f) => f[0] === name)?.[1];

/** Fill the convenience fields from request headers (HTTP/2 pseudo-headers or HTTP/1.1 equivalents). */
export function applyRequestHeaders(ex: HttpExchange, fields: HeaderField[]): void {
  ex.requestHeaders = fields;
  for (const [name, value] of fields) {
    switch (name) {
      case ':method': ex.method = value; break;
      case ':path': ex.path = value; break;
      case ':authority': case 'host': ex.authority ??= value; break;
      case ':scheme': ex.scheme = value; break;
      case 'user-agent': ex.userAgent = value; break;
    }
  }
}

export function applyResponseHeaders(ex: HttpExchange, fields: HeaderField[]): void {
  ex.responseHeaders = fields;
  for (const [name, value] of fields) {
    switch (name) {
      case ':status': ex.status = Number(value); break;
      case 'content-type': ex.contentType = value; break;
      case 'content-encoding': ex.contentEncoding = value; break;
    }
  }
  applyGrpcFields(ex, fields);
}

export function applyTrailers(ex: HttpExchange, fields: HeaderField[]): void {
  ex.trailers.push(...fields);
  applyGrpcFields(ex, fields);
}

function applyGrpcFields(ex: HttpExchange, fields: HeaderField[]): void {
  for (const [name, value] of fields) {
    if (name === 'grpc-status') ex.grpcStatus = Number(value);
    else if (name === 'grpc-message') ex.grpcMessage = decodeGrpcMessage(value);
  }
}

/** grpc-message is percent-encoded (gRPC over HTTP/2 spec). */
function decodeGrpcMessage(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}

/** Bodies kept per message at most: a long watch stream or a huge list must not exhaust memory. */
export const MAX_KEPT_BODY_BYTES = 64 << 20;

/**
 * A create's request body is kept (up to this size) even when bodies were not asked for: the API server
 * names the created object from the body's metadata.name, and so does analyze.
 */
export const MAX_CREATE_BODY_BYTES = 1 << 20;

/** The collector for a request body that nobody asked for: a POST's, bounded; none for other methods. */
export const createBodyCollector = (method: string | undefined): BodyCollector | undefined =>
  method === 'POST' ? new BodyCollector(MAX_CREATE_BODY_BYTES) : undefined;

/**
 * Bodies kept in all by one run (--bodies): 40 gzip bombs of 64 MiB each once took 2.7–7.9 GB. Printed as
 * JSON a body may grow sixfold (a NUL byte is `\u0000`), so this also bounds the output's largest string.
 */
export const BODY_BUDGET_BYTES = 16 << 20;

/** The bytes that kept bodies (as received, then as decoded) may still take; one for a whole run. */
export class BodyBudget {
  constructor(public remaining = BODY_BUDGET_BYTES) {}
}

/** Collects body pieces when bodies were requested; otherwise only counts. */
export class BodyCollector {
  #pieces: Buffer[] = [];
  #size = 0;
  #truncated = false;
  readonly #limit: number;
  readonly #budget: BodyBudget;
  constructor(
    limit = MAX_KEPT_BODY_BYTES,
    budget = new BodyBudget(limit),
  ) {
    this.#limit = limit;
    this.#budget = budget;
  }
  add(piece: Uint8Array): void {
    if (this.#truncated || this.#size + piece.length > Math.min(this.#limit, this.#size + this.#budget.remaining)) {
      this.#truncated = true;
      return;
    }
    this.#pieces.push(Buffer.from(piece));
    this.#size += piece.length;
    this.#budget.remaining -= piece.length;
  }
  /**
   * The body, gunzipped when `contentEncoding` is gzip and it inflates within the limit and the budget (else as
   * sent, or cut at the limit). What it takes stays spent: the budget bounds what a run decodes in all.
   */
  take(contentEncoding: string | undefined): Buffer {
    const raw = Buffer.concat(this.#pieces);
    this.#pieces = [];
    if (this.#truncated || contentEncoding?.toLowerCase() !== 'gzip') return raw;
    const room = Math.min(this.#limit, this.#budget.remaining + raw.length);
    try {
      const body = gunzipSync(raw, { maxOutputLength: Math.max(room, 1) });
      this.#budget.remaining += raw.length - body.length;
      return body;
    } catch {
      return raw;
    }
  }
}
