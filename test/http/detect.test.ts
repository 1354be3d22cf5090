// Which HTTP version a connection speaks: ALPN first, else the client's first bytes (RFC 9113 §3.4 preface).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { detectHttpProtocol } from '../../src/http/index.js';

const bytes = (s: string): Buffer => Buffer.from(s, 'latin1');

test('ALPN decides when negotiated', () => {
  assert.equal(detectHttpProtocol('h2', bytes('GET / HTTP/1.1\r\n')), 'h2');
  assert.equal(detectHttpProtocol('http/1.1', bytes('')), 'http/1.1');
});

test('without ALPN: the HTTP/2 preface (even a prefix of it) or an HTTP/1.x request line', () => {
  assert.equal(detectHttpProtocol(undefined, bytes('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04')), 'h2');
  assert.equal(detectHttpProtocol(undefined, bytes('PRI * HT')), 'h2');
  assert.equal(detectHttpProtocol(undefined, bytes('POST /apis/apps/v1 HTTP/1.1\r\n')), 'http/1.1');
  assert.equal(detectHttpProtocol(undefined, bytes('\x00\x00\x12\x04')), null);
  assert.equal(detectHttpProtocol('grpc-exp', bytes('SSH-2.0-OpenSSH')), null);
});
