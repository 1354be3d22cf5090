/**
 * HTTP/1.1 connection decoder (RFC 9112): requests and responses with Content-Length, chunked
 * transfer coding (with trailers) or read-until-close bodies; pipelined requests are paired with
 * responses in order. Bodies are streamed, never buffered unless bodies were requested.
 */
import type { HeaderField } from './hpack.js';
import {
  applyRequestHeaders, applyResponseHeaders, applyTrailers, BodyBudget, BodyCollector, createBodyCollector, MAX_KEPT_BODY_BYTES, headerValue, newExchange,
  type HttpConnectionDecoder, type HttpDecoderOptions, type HttpExchange,
} from './exchange.js';

/** Longest request/status line plus header section we accept before calling the stream malformed. */
const MAX_HEAD_BYTES = 256 * 1024;
const MAX_CHUNK_LINE = 4096;
const MAX_TRAILER_LINES = 1000;

class Http1Error extends Error {}

type BodyFraming = { kind: 'none' } | { kind: 'length'; length: number } | { kind: 'chunked' } | { kind: 'close' };

interface MessageEvents {
  head(startLine: string, fields: HeaderField[], time: number): BodyFraming;
  body(piece: Uint8Array, time: number): void;
  trailers(fields: HeaderField[]): void;
  end(time: number): void;
}

const CRLF_CRLF = Buffer.from('\r\n\r\n');
const CRLF = Buffer.from('\r\n');

/** Parses one direction: a sequence of messages (head, then body per its framing). */
class MessageParser {
  #state: 'head' | 'length' | 'chunk-size' | 'chunk-data' | 'chunk-crlf' | 'trailers' | 'close' = 'head';
  #buffered: Buffer = Buffer.alloc(0);
  #remaining = 0;
  #trailerLines: string[] = [];
  readonly #events: MessageEvents;
  constructor(events: MessageEvents) {
    this.#events = events;
  }

  push(chunk: Uint8Array, time: number): void {
    let data = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length);
    while (data.length > 0) {
      switch (this.#state) {
        case 'head': {
          const head = this.#takeThrough(data, CRLF_CRLF, MAX_HEAD_BYTES, 'header section');
          if (!head) return;
          data = head.rest;
          // Tolerate stray CRLFs between messages (RFC 9112 §2.2).
          const text = head.bytes.toString('latin1').replace(/^(\r\n)+/, '');
          if (text === '') continue;
          const [startLine, fields] = parseHead(text);
          this.#startBody(this.#events.head(startLine, fields, time), time);
          break;
        }
        case 'length':
        case 'chunk-data': {
          const take = Math.min(this.#remaining, data.length);
          this.#events.body(data.subarray(0, take), time);
          this.#remaining -= take;
          data = data.subarray(take);
          if (this.#remaining === 0) {
            if (this.#state === 'length') this.#finish(time);
            else this.#state = 'chunk-crlf';
          }
          break;
        }
        case 'chunk-crlf':
        case 'chunk-size': {
          const line = this.#takeThrough(data, CRLF, MAX_CHUNK_LINE, 'chunk size line');
          if (!line) return;
          data = line.rest;
          if (this.#state === 'chunk-crlf') {
            if (line.bytes.length !== 2) throw new Http1Error('chunk data not followed by CRLF');
            this.#state = 'chunk-size';
            break;
          }
          const size = parseChunkSize(line.bytes.toString('latin1'));
          if (size === 0) this.#state = 'trailers';
          else {
            this.#state = 'chunk-data';
            this.#remaining = size;
          }
          break;
        }
        case 'trailers': {
          // Trailer lines until an empty line; with no trailers that is the CRLF right after the last chunk.
          const line = this.#takeThrough(data, CRLF, MAX_CHUNK_LINE, 'trailer line');
          if (!line) return;
          data = line.rest;
          if (line.bytes.length > 2) {
            if (this.#trailerLines.length >= MAX_TRAILER_LINES) throw new Http1Error(`more than ${MAX_TRAILER_LINES} trailer lines`);
            this.#trailerLines.push(line.bytes.toString('latin1', 0, line.bytes.length - 2));
            break;
          }
          if (this.#trailerLines.length) this.#events.trailers(parseFields(this.#trailerLines.splice(0)));
          this.#finish(time);
          break;
        }
        case 'close':
          this.#events.body(data, time);
          return;
      }
    }
  }

  /** The connection closed: a read-until-close body ends here. */
  close(time: number): void {
    if (this.#state === 'close') this.#finish(time);
  }

  #startBody(framing: BodyFraming, time: number): void {
    if (framing.kind === 'none' || (framing.kind === 'length' && framing.length === 0)) this.#finish(time);
    else if (framing.kind === 'length') {
      this.#state = 'length';
      this.#remaining = framing.length;
    } else if (framing.kind === 'chunked') this.#state = 'chunk-size';
    else this.#state = 'close';
  }

  #finish(time: number): void {
    this.#state = 'head';
    this.#events.end(time);
  }

  /** Bytes up to and including `delimiter`, across pushes; null when more input is needed. */
  #takeThrough(data: Buffer, delimiter: Buffer, limit: number, what: string): { bytes: Buffer; rest: Buffer } | null {
    const searchFrom = Math.max(0, this.#buffered.length - delimiter.length + 1);
    const joined = this.#buffered.length ? Buffer.concat([this.#buffered, data]) : data;
    const at = joined.indexOf(delimiter, searchFrom);
    if (at < 0) {
      if (joined.length > limit) throw new Http1Error(`${what} longer than ${limit} bytes`);
      this.#buffered = Buffer.from(joined);
      return null;
    }
    const end = at + delimiter.length;
    const consumedFromData = end - this.#buffered.length;
    const bytes = joined.subarray(0, end);
    this.#buffered = Buffer.alloc(0);
    return { bytes, rest: data.subarray(consumedFromData) };
  }
}

function parseHead(text: string): [startLine: string, fields: HeaderField[]] {
  const lines = text.split('\r\n').filter((l) => l !== '');
  const startLine = lines.shift();
  if (startLine === undefined) throw new Http1Error('empty message head');
  return [startLine, parseFields(lines)];
}

function parseFields(lines: string[]): HeaderField[] {
  return lines.map((line) => {
    const colon = line.indexOf(':');
    if (colon <= 0) throw new Http1Error(`malformed header line "${line.slice(0, 40)}"`);
    return [line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim()];
  });
}

function parseChunkSize(line: string): number {
  const hex = line.replace(/\r\n$/, '').split(';')[0]!.trim();
  if (!/^[0-9a-fA-F]{1,12}$/.test(hex)) throw new Http1Error('malformed chunk size');
  return parseInt(hex, 16);
}

function framingOf(fields: HeaderField[]): BodyFraming | null {
  const te = headerValue(fields, 'transfer-encoding');
  if (te && /chunked\s*$/i.test(te)) return { kind: 'chunked' };
  const cl = headerValue(fields, 'content-length');
  if (cl !== undefined) {
    if (!/^\d{1,15}$/.test(cl.trim())) throw new Http1Error('malformed Content-Length');
    return { kind: 'length', length: Number(cl) };
  }
  return null;
}

interface Pending {
  exchange: HttpExchange;
  requestEnded: boolean;
  responseEnded: boolean;
  requestBody?: BodyCollector;
  responseBody?: BodyCollector;
}

export class Http1Decoder implements HttpConnectionDecoder {
  readonly protocol = 'http/1.1' as const;
  error: string | undefined;
  /** Requests in order; the first is the one the next response answers. */
  readonly #queue: Pending[] = [];
  #sending: Pending | null = null;
  #answering: Pending | null = null;
  #count = 0;
  #upgraded = false;
  readonly #requests: MessageParser;
  readonly #responses: MessageParser;
  readonly #bodyBudget: BodyBudget;
  readonly #options: HttpDecoderOptions;

  constructor(options: HttpDecoderOptions) {
    this.#options = options;
    this.#bodyBudget = options.bodyBudget ?? new BodyBudget();
    this.#requests = new MessageParser({
      head: (startLine, fields, time) => this.#requestHead(startLine, fields, time),
      body: (piece, time) => this.#bodyPiece(this.#sending, 'request', piece, time),
      trailers: (fields) => this.#sending && applyTrailers(this.#sending.exchange, fields),
      end: (time) => this.#requestEnd(time),
    });
    this.#responses = new MessageParser({
      head: (startLine, fields, time) => this.#responseHead(startLine, fields, time),
      body: (piece, time) => this.#bodyPiece(this.#answering, 'response', piece, time),
      trailers: (fields) => this.#answering && applyTrailers(this.#answering.exchange, fields),
      end: (time) => this.#responseEnd(time),
    });
  }

  client(chunk: Uint8Array, time: number): void {
    this.#feed(this.#requests, 'client', chunk, time);
  }

  server(chunk: Uint8Array, time: number): void {
    this.#feed(this.#responses, 'server', chunk, time);
  }

  end(): void {
    if (!this.error) this.#responses.close(this.#answering?.exchange.lastTimeSeconds ?? 0);
    for (const pending of this.#queue.splice(0)) {
      pending.exchange.reset ??= 'connection ended';
      this.#emit(pending);
    }
  }

  #feed(parser: MessageParser, side: string, chunk: Uint8Array, time: number): void {
    if (this.error || this.#upgraded || chunk.length === 0) return;
    try {
      parser.push(chunk, time);
    } catch (err) {
      if (!(err instanceof Http1Error)) throw err;
      this.error = `HTTP/1.1 ${side} stream: ${err.message}`;
    }
  }

  #requestHead(startLine: string, fields: HeaderField[], time: number): BodyFraming {
    const m = /^([!#$%&'*+.^_`|~0-9A-Za-z-]+) (\S+) HTTP\/1\.[01]$/.exec(startLine);
    if (!m) throw new Http1Error(`malformed request line "${startLine.slice(0, 60)}"`);
    this.#count += 1;
    const pending: Pending = { exchange: newExchange('http/1.1', this.#count, time), requestEnded: false, responseEnded: false };
    if (this.#options.bodies) {
      pending.requestBody = new BodyCollector(MAX_KEPT_BODY_BYTES, this.#bodyBudget);
      pending.responseBody = new BodyCollector(MAX_KEPT_BODY_BYTES, this.#bodyBudget);
    }
    applyRequestHeaders(pending.exchange, [[':method', m[1]!], [':path', m[2]!], ...fields]);
    pending.exchange.requestHeaders = fields;
    pending.requestBody ??= createBodyCollector(pending.exchange.method);
    this.#queue.push(pending);
    this.#sending = pending;
    return framingOf(fields) ?? { kind: 'none' };
  }

  #requestEnd(time: number): void {
    const pending = this.#sending;
    if (!pending) return;
    this.#sending = null;
    pending.requestEnded = true;
    touch(pending.exchange, time);
    if (pending.requestBody) pending.exchange.requestBody = pending.requestBody.take(headerValue(pending.exchange.requestHeaders, 'content-encoding'));
    this.#maybeComplete(pending);
  }

  #responseHead(startLine: string, fields: HeaderField[], time: number): BodyFraming {
    const m = /^HTTP\/1\.[01] (\d{3})(?: .*)?$/.exec(startLine);
    if (!m) throw new Http1Error(`malformed status line "${startLine.slice(0, 60)}"`);
    const status = Number(m[1]);
    let pending = this.#queue.find((p) => !p.responseEnded);
    if (!pending) {
      // A response whose request was not captured (connection seen from the middle).
      this.#count += 1;
      pending = { exchange: newExchange('http/1.1', this.#count, time), requestEnded: true, responseEnded: false };
      this.#queue.push(pending);
    }
    touch(pending.exchange, time);
    if (status >= 100 && status < 200 && status !== 101) {
      this.#answering = null;
      return { kind: 'none' };
    }
    this.#answering = pending;
    applyResponseHeaders(pending.exchange, [[':status', m[1]!], ...fields]);
    pending.exchange.responseHeaders = fields;
    if (status === 101) this.#upgraded = true;
    if (pending.exchange.method === 'HEAD' || status === 204 || status === 304 || status === 101) return { kind: 'none' };
    return framingOf(fields) ?? { kind: 'close' };
  }

  #responseEnd(time: number): void {
    const pending = this.#answering;
    if (!pending) return; // The end of an informational (1xx) response.
    this.#answering = null;
    pending.responseEnded = true;
    touch(pending.exchange, time);
    if (pending.responseBody) pending.exchange.responseBody = pending.responseBody.take(pending.exchange.contentEncoding);
    this.#maybeComplete(pending);
  }

  #bodyPiece(pending: Pending | null, side: 'request' | 'response', piece: Uint8Array, time: number): void {
    if (!pending) return;
    touch(pending.exchange, time);
    if (side === 'request') {
      pending.exchange.requestBodyBytes += piece.length;
      pending.requestBody?.add(piece);
    } else {
      pending.exchange.responseBodyBytes += piece.length;
      pending.responseBody?.add(piece);
    }
  }

  #maybeComplete(pending: Pending): void {
    if (!pending.requestEnded || !pending.responseEnded) return;
    pending.exchange.complete = true;
    // Emit in request order: a later exchange waits for the earlier ones.
    while (this.#queue.length > 0 && this.#queue[0]!.requestEnded && this.#queue[0]!.responseEnded) {
      this.#emit(this.#queue.shift()!);
    }
  }

  #emit(pending: Pending): void {
    this.#options.onExchange(pending.exchange);
  }
}

function touch(ex: HttpExchange, time: number): void {
  if (time > ex.lastTimeSeconds) ex.lastTimeSeconds = time;
}
