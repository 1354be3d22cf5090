// HTTP/1.1 decoding of real traffic: Node's http server and a raw client socket (for pipelining)
// through a recording relay; expected values are what the test sent.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { Http1Decoder, type HttpExchange } from '../../src/http/index.js';
import { bySide, startRecorder, type SideChunk } from '../support/recorder.js';
import { seededRandom } from '../support/random.js';

async function recordSession(): Promise<SideChunk[]> {
  const server = http.createServer((req, res) => {
    let n = 0;
    req.on('data', (b: Buffer) => (n += b.length));
    req.on('end', () => {
      if (req.url === '/chunked') {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.write('{"a":');
        res.end('1}');
      } else if (req.url === '/head') {
        res.writeHead(200, { 'content-length': '1234' });
        res.end();
      } else {
        res.writeHead(req.method === 'POST' ? 201 : 200, { 'content-type': 'text/plain', 'content-length': String(`got ${n}`.length) });
        res.end(`got ${n}`);
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const recorder = await startRecorder((server.address() as net.AddressInfo).port);
  try {
    const socket = net.connect(recorder.port, '127.0.0.1');
    await new Promise<void>((r) => socket.on('connect', r));
    // Pipelined: all requests in one write, including a chunked request body.
    socket.write(
      'GET /chunked HTTP/1.1\r\nHost: a\r\nUser-Agent: ua-1\r\n\r\n' +
        'POST /apis/apps/v1/namespaces/default/deployments HTTP/1.1\r\nHost: a\r\nUser-Agent: ua-2\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n3;ext=1\r\nabc\r\n0\r\nX-Trailer: t\r\n\r\n' +
        'HEAD /head HTTP/1.1\r\nHost: a\r\n\r\n' +
        'GET /last HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n',
    );
    socket.resume();
    await new Promise<void>((r) => socket.on('close', () => r()));
  } finally {
    await recorder.close();
    await new Promise<void>((r) => server.close(() => r()));
  }
  return bySide(recorder.chunks);
}

function decode(chunks: Array<{ side: 'client' | 'server'; bytes: Uint8Array }>): { exchanges: HttpExchange[]; error: string | undefined } {
  const exchanges: HttpExchange[] = [];
  const d = new Http1Decoder({ onExchange: (e) => exchanges.push(e), bodies: true });
  chunks.forEach((c, i) => d[c.side](c.bytes, 1000 + i));
  d.end();
  return { exchanges, error: d.error };
}

const recorded = recordSession();

test('HTTP/1.1: pipelined requests pair with their responses (chunked, content-length, HEAD)', async () => {
  const { exchanges, error } = decode(await recorded);
  assert.equal(error, undefined);
  assert.deepEqual(exchanges.map((e) => [e.streamId, e.method, e.path, e.status, e.complete]), [
    [1, 'GET', '/chunked', 200, true],
    [2, 'POST', '/apis/apps/v1/namespaces/default/deployments', 201, true],
    [3, 'HEAD', '/head', 200, true],
    [4, 'GET', '/last', 200, true],
  ]);
  const [chunked, post, head] = exchanges;
  assert.equal(chunked!.responseBody!.toString(), '{"a":1}');
  assert.equal(chunked!.contentType, 'application/json');
  assert.equal(chunked!.userAgent, 'ua-1');
  assert.equal(chunked!.authority, 'a');
  assert.equal(post!.requestBodyBytes, 8);
  assert.equal(post!.requestBody!.toString(), 'helloabc');
  assert.deepEqual(post!.trailers, [['x-trailer', 't']]);
  assert.equal(post!.responseBody!.toString(), 'got 8');
  assert.equal(head!.responseBodyBytes, 0);
});

test('HTTP/1.1: byte-by-byte delivery decodes the same', async () => {
  const chunks = await recorded;
  const split = chunks.flatMap((c) => [...c.bytes].map((b) => ({ side: c.side, bytes: Buffer.from([b]) })));
  const summary = (e: HttpExchange) => [e.streamId, e.method, e.path, e.status, e.requestBodyBytes, e.responseBodyBytes];
  assert.deepEqual(decode(split).exchanges.map(summary), decode(chunks).exchanges.map(summary));
});

test('HTTP/1.1: a body read until close, and garbage that is an error rather than a throw', () => {
  const { exchanges } = decode([
    { side: 'client', bytes: Buffer.from('GET /x HTTP/1.1\r\n\r\n') },
    { side: 'server', bytes: Buffer.from('HTTP/1.1 200 OK\r\n\r\nbody until close') },
  ]);
  assert.equal(exchanges[0]!.responseBodyBytes, 'body until close'.length);
  assert.equal(exchanges[0]!.complete, true);
  const bad = decode([{ side: 'client', bytes: Buffer.from('\x16\x03\x01 not http\r\n\r\n') }]);
  assert.match(bad.error!, /malformed request line/);
  const badChunk = decode([{ side: 'server', bytes: Buffer.from('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n') }]);
  assert.match(badChunk.error!, /chunk size/);
});

test('HTTP/1.1: seeded random damage is an error or fewer exchanges, never a throw', async () => {
  const chunks = await recorded;
  const random = seededRandom(0x1111);
  for (let iteration = 0; iteration < 500; iteration++) {
    const damaged = chunks.map((c) => ({ side: c.side, bytes: Buffer.from(c.bytes) }));
    for (let k = 0; k < 1 + random(6); k++) {
      const c = damaged[random(damaged.length)]!;
      if (c.bytes.length === 0) continue;
      const at = random(c.bytes.length);
      if (random(2)) c.bytes[at] = random(256);
      else c.bytes = c.bytes.subarray(0, at);
    }
    decode(damaged);
  }
});
