/**
 * HTTP layer: decrypted connection bytes (both directions, with capture times) → HTTP exchanges.
 * `createHttpDecoder` picks HTTP/2 or HTTP/1.1; decoders never throw on bad input, they record `error`.
 */
import type { HttpDecoderOptions, HttpConnectionDecoder, HttpProtocol } from './exchange.js';
import { Http1Decoder } from './h1.js';
import { Http2Decoder } from './h2.js';

export { detectHttpProtocol } from './detect.js';
export { findFrameBoundary, looksLikeHttp2Frames } from './resync.js';
export { BodyBudget, headerValue, type HttpExchange, type HttpDecoderOptions, type HttpConnectionDecoder, type HttpProtocol } from './exchange.js';
export { HpackDecoder, HpackError, type HeaderField } from './hpack.js';
export { Http1Decoder } from './h1.js';
export { Http2Decoder } from './h2.js';

export function createHttpDecoder(protocol: HttpProtocol, options: HttpDecoderOptions): HttpConnectionDecoder {
  return protocol === 'h2' ? new Http2Decoder(options) : new Http1Decoder(options);
}
