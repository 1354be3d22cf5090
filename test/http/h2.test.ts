// HTTP/2 decoding of real traffic: Node's http2 (nghttp2) client and server talk h2c through a recording
// relay; the expected values are what the test itself sent.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import net from 'node:net';
import { gzipSync } from 'node:zlib';
import { Http2Decoder, type HttpExchange } from '../../src/http/index.js';
import { bySide, startRecorder, type SideChunk } from '../support/recorder.js';
import { seededRandom } from '../support/random.js';

const BIG_HEADER = 'x'.repeat(20000); // > 16384: nghttp2 must use CONTINUATION frames
const LIST_BODY = JSON.stringify({ kind: 'PodList', items: Array.from({ length: 200 }, (_, i) => ({ name: `pod-${i}` })) });

async function recordSession(): Promise<SideChunk[]> {
  const server = http2.createServer({ paddingStrategy: http2.constants.PADDING_STRATEGY_MAX });
  server.on('stream', (stream, headers) => {
    const path = headers[':path'];
    stream.on('error', () => {});
    if (path === '/api/v1/namespaces/default/pods') {
      stream.respond({ ':status': 200, 'content-type': 'application/json', 'content-encoding': 'gzip' });
      stream.end(gzipSync(LIST_BODY));
    } else if (path === '/etcdserverpb.KV/Range') {
      stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
      stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '5', 'grpc-message': 'key not found' }));
      stream.end(Buffer.alloc(5));
    } else if (path === '/watch') {
      stream.respond({ ':status': 200 });
      stream.write('event-1\n'); // never ends: the client cancels it
    } else if (headers[':method'] === 'POST') {
      let n = 0;
      stream.on('data', (b: Buffer) => (n += b.length));
      stream.on('end', () => {
        stream.respond({ ':status': 201, 'content-type': 'text/plain' });
        stream.end(`got ${n}`);
      });
    } else {
      stream.respond({ ':status': 404 });
      stream.end();
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const recorder = await startRecorder((server.address() as net.AddressInfo).port);
  const session = http2.connect(`http://127.0.0.1:${recorder.port}`, { paddingStrategy: http2.constants.PADDING_STRATEGY_MAX });
  const request = (headers: http2.OutgoingHttpHeaders, body?: Buffer): Promise<void> =>
    new Promise((resolve, reject) => {
      const req = session.request(headers);
      req.on('response', () => {});
      req.on('data', () => {});
      req.on('end', resolve);
      req.on('error', reject);
      req.end(body);
    });
  try {
    await request({ ':path': '/api/v1/namespaces/default/pods', 'user-agent': 'kubectl/v1.30.0 (linux/amd64)' });
    await request({ ':method': 'POST', ':path': '/apis/apps/v1/namespaces/default/deployments', 'user-agent': 'ua-post', 'content-type': 'application/json' }, Buffer.alloc(70000, 1));
    await request({ ':method': 'POST', ':path': '/etcdserverpb.KV/Range', 'content-type': 'application/grpc', te: 'trailers' }, Buffer.alloc(5));
    await request({ ':path': '/big', 'x-big': BIG_HEADER });
    await new Promise<void>((resolve) => {
      const req = session.request({ ':path': '/watch' });
      req.on('data', () => req.close(http2.constants.NGHTTP2_CANCEL));
      req.on('close', resolve);
      req.on('error', () => {});
    });
    // Several streams in flight at once: frames of different streams interleave.
    await Promise.all(Array.from({ length: 5 }, (_, i) => request({ ':path': `/api/v1/namespaces/default/pods`, 'user-agent': `parallel-${i}` })));
  } finally {
    await new Promise<void>((r) => session.close(r));
    await recorder.close();
    await new Promise<void>((r) => server.close(() => r()));
  }
  return bySide(recorder.chunks);
}

function decode(chunks: Array<{ side: 'client' | 'server'; bytes: Uint8Array }>, bodies = false): { exchanges: HttpExchange[]; error: string | undefined } {
  const exchanges: HttpExchange[] = [];
  const d = new Http2Decoder({ onExchange: (e) => exchanges.push(e), bodies });
  chunks.forEach((c, i) => d[c.side](c.bytes, 1000 + i));
  d.end();
  return { exchanges, error: d.error };
}

/** The same bytes cut into pieces of `size`, each direction keeping its own order. */
function resplit(chunks: SideChunk[], size: number): Array<{ side: 'client' | 'server'; bytes: Uint8Array }> {
  const out: Array<{ side: 'client' | 'server'; bytes: Uint8Array }> = [];
  for (const c of chunks) for (let i = 0; i < c.bytes.length; i += size) out.push({ side: c.side, bytes: c.bytes.subarray(i, i + size) });
  return out;
}

const recorded = recordSession();

test('HTTP/2: requests and responses of a real nghttp2 session (padding, CONTINUATION, trailers, RST_STREAM)', async () => {
  const { exchanges, error } = decode(await recorded, true);
  assert.equal(error, undefined);
  const byPath = (p: string) => exchanges.filter((e) => e.path === p);
  assert.equal(exchanges.length, 10);

  const [list] = byPath('/api/v1/namespaces/default/pods').filter((e) => e.userAgent === 'kubectl/v1.30.0 (linux/amd64)');
  assert.ok(list);
  assert.equal(list.method, 'GET');
  assert.equal(list.status, 200);
  assert.equal(list.scheme, 'http');
  assert.equal(list.authority, `127.0.0.1:${list.authority!.split(':')[1]}`);
  assert.equal(list.contentType, 'application/json');
  assert.equal(list.contentEncoding, 'gzip');
  assert.equal(list.responseBodyBytes, gzipSync(LIST_BODY).length);
  assert.equal(list.responseBody!.toString(), LIST_BODY);
  assert.equal(list.complete, true);

  const [post] = byPath('/apis/apps/v1/namespaces/default/deployments');
  assert.equal(post!.method, 'POST');
  assert.equal(post!.status, 201);
  assert.equal(post!.requestBodyBytes, 70000);
  assert.equal(post!.userAgent, 'ua-post');

  const [grpc] = byPath('/etcdserverpb.KV/Range');
  assert.equal(grpc!.grpcStatus, 5);
  assert.equal(grpc!.grpcMessage, 'key not found');
  assert.equal(grpc!.contentType, 'application/grpc');

  const [big] = byPath('/big');
  assert.equal(big!.requestHeaders.find((h) => h[0] === 'x-big')?.[1], BIG_HEADER);
  assert.equal(big!.status, 404);

  const [watch] = byPath('/watch');
  assert.equal(watch!.reset, 'CANCEL');
  assert.equal(watch!.complete, false);
  assert.equal(watch!.responseBodyBytes, 'event-1\n'.length);

  const parallel = exchanges.filter((e) => e.userAgent?.startsWith('parallel-'));
  assert.deepEqual(parallel.map((e) => e.userAgent).sort(), ['parallel-0', 'parallel-1', 'parallel-2', 'parallel-3', 'parallel-4']);
  assert.ok(parallel.every((e) => e.status === 200));
  // Client streams are odd and increasing in request order.
  const ids = exchanges.map((e) => e.streamId);
  assert.ok(ids.every((id) => id % 2 === 1));
});

test('HTTP/2: the same session cut at every size decodes identically', async () => {
  const chunks = await recorded;
  const expected = decode(chunks).exchanges.map(summary);
  for (const size of [1, 2, 7, 9, 10, 100, 4096]) {
    assert.deepEqual(decode(resplit(chunks, size)).exchanges.map(summary), expected, `pieces of ${size}`);
  }
});

test('HTTP/2: seeded random damage gives an error or fewer exchanges, never a throw', async () => {
  const chunks = await recorded;
  const random = seededRandom(0x5eed);
  let errors = 0;
  for (let iteration = 0; iteration < 300; iteration++) {
    const damaged = chunks.map((c) => ({ side: c.side, bytes: Buffer.from(c.bytes) }));
    for (let k = 0; k < 1 + random(8); k++) {
      const c = damaged[random(damaged.length)]!;
      const at = random(c.bytes.length);
      switch (random(3)) {
        case 0: c.bytes[at] = random(256); break;
        case 1: c.bytes = c.bytes.subarray(0, at); break;
        default: c.bytes = Buffer.concat([c.bytes.subarray(0, at), Buffer.from([random(256), random(256)]), c.bytes.subarray(at)]);
      }
    }
    const { error } = decode(damaged);
    if (error) errors++;
  }
  assert.ok(errors > 0, 'damage was detected at least sometimes');
});

test('HTTP/2: a client that does not send the preface is an error, not a throw', () => {
  const { error, exchanges } = decode([{ side: 'client', bytes: Buffer.from('GET / HTTP/1.1\r\n\r\n') }]);
  assert.match(error!, /preface/);
  assert.equal(exchanges.length, 0);
});

function summary(e: HttpExchange) {
  return [e.streamId, e.method, e.path, e.status, e.userAgent, e.requestBodyBytes, e.responseBodyBytes, e.reset, e.grpcStatus];
}
