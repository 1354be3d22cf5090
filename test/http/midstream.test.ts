// HTTP/2 and HPACK joined in the middle of a connection. Referees: RFC 7541 Appendix C (the header lists
// are the RFC's), and real nghttp2 traffic (Node's client and server through a recording relay) whose every
// request the test chose itself: decoding from any cut of the stream may leave fields out, but every field
// it does decode must be one that request really sent.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import net from 'node:net';
import { findFrameBoundary, HpackDecoder, Http2Decoder, type HttpExchange } from '../../src/http/index.js';
import { bySide, startRecorder, type SideChunk } from '../support/recorder.js';
import { seededRandom } from '../support/random.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

// RFC 7541 C.3: three requests on one connection, without Huffman coding.
const C3 = ['8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d', '8286 84be 5808 6e6f 2d63 6163 6865', '8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65'];

test('HPACK joined after RFC C.3.1: entries from before the join are unknown, entries inserted after it decode', () => {
  const d = new HpackDecoder();
  d.joinMidStream();
  // C.3.2 refers to 62 = ":authority: www.example.com", inserted by the block we did not see.
  assert.deepEqual(d.decodeBlock(hex(C3[1]!)), { fields: [[':method', 'GET'], [':scheme', 'http'], [':path', '/'], ['cache-control', 'no-cache']], unknown: 1 });
  // C.3.3: 63 is ":authority" again (still unseen); 62 would now be "cache-control: no-cache".
  assert.deepEqual(d.decodeBlock(hex(C3[2]!)), { fields: [[':method', 'GET'], [':scheme', 'https'], [':path', '/index.html'], ['custom-key', 'custom-value']], unknown: 1 });
  // The RFC's table after C.3.3 is custom-key, cache-control, :authority: the two we saw are 62 and 63.
  assert.deepEqual(d.decodeBlock(hex('be bf c0')), { fields: [['custom-key', 'custom-value'], ['cache-control', 'no-cache']], unknown: 1 });
});

test('HPACK joined: a literal named by an unseen entry is unknown, and so is the entry it inserts; a size update to 0 makes the table known again', () => {
  const d = new HpackDecoder();
  d.joinMidStream();
  // 0x7f 0x00 = literal with incremental indexing, name index 62 + 0x7f - 0x3f… : index 63 (unseen), value "v".
  assert.deepEqual(d.decodeBlock(hex('7f00 0176')), { fields: [], unknown: 1 });
  assert.deepEqual(d.decodeBlock(hex('be')), { fields: [], unknown: 1 }, 'the entry it inserted has no known name');
  assert.deepEqual(d.decodeBlock(hex('20 82')), { fields: [[':method', 'GET']], unknown: 0 });
  assert.throws(() => d.decodeBlock(hex('be')), /beyond the dynamic table/, 'after a size update to 0 the table is known to be empty');
});

test('HTTP/2 frame resynchronisation: the first whole frame after any cut of real frames', () => {
  // SETTINGS (6 bytes), WINDOW_UPDATE, HEADERS on stream 1, DATA on stream 1: as nghttp2 lays them out.
  const frames = hex('000006 04 00 00000000 000400010000' + '000004 08 00 00000000 0000ffff' + '000003 01 05 00000001 828684' + '000002 00 01 00000001 6f6b');
  const starts = [0, 15, 28, 40];
  for (let cut = 0; cut < frames.length; cut++) {
    const found = findFrameBoundary(frames.subarray(cut), true);
    const next = starts.find((s) => s >= cut);
    if (next === undefined) assert.notEqual(found.kind, 'found', `cut ${cut}`);
    else assert.deepEqual(found, { kind: 'found', offset: next - cut }, `cut ${cut}`);
  }
  assert.deepEqual(findFrameBoundary(frames.subarray(1, 20), false), { kind: 'more' });
});

const GRPC_PATH = '/etcdserverpb.KV/Range';

/** The requests the client sends, in order (stream 2i+1): some header values repeat, so HPACK refers back. */
function plannedRequests(n: number): http2.OutgoingHttpHeaders[] {
  const random = seededRandom(2);
  const agents = ['kubelet/v1.30.0 (linux/amd64)', 'kube-controller-manager/v1.30.0', 'client-go/v0.30.0'];
  return Array.from({ length: n }, (_, i) => ({
    ':method': i % 5 === 4 ? 'POST' : 'GET',
    ':scheme': 'http',
    ':authority': 'kube.test:6443',
    ':path': i % 7 === 6 ? GRPC_PATH : i % 3 === 0 ? '/api/v1/nodes/node-1' : `/api/v1/namespaces/ns-${random(40)}/pods?i=${i}`,
    'user-agent': agents[random(agents.length)]!,
    accept: 'application/json',
    'x-request-id': `req-${i}`,
  }));
}

async function recordSession(requests: http2.OutgoingHttpHeaders[]): Promise<SideChunk[]> {
  const server = http2.createServer();
  server.on('stream', (stream, headers) => {
    stream.on('error', () => {});
    if (String(headers[':path']).startsWith(GRPC_PATH)) {
      // gRPC: the status is in the trailers, after the response headers and the message.
      stream.respond({ ':status': 200, 'content-type': 'application/grpc', 'x-served-for': String(headers['x-request-id']) }, { waitForTrailers: true });
      stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '5', 'grpc-message': 'key%20not%20found' }));
      stream.end(Buffer.alloc(5));
      return;
    }
    stream.respond({ ':status': headers[':method'] === 'POST' ? 201 : 200, 'content-type': 'application/json', 'x-served-for': String(headers['x-request-id']) });
    stream.end(JSON.stringify({ path: headers[':path'] }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const recorder = await startRecorder((server.address() as net.AddressInfo).port);
  const session = http2.connect(`http://127.0.0.1:${recorder.port}`);
  try {
    for (const headers of requests) {
      await new Promise<void>((resolve, reject) => {
        const req = session.request(headers, { endStream: headers[':method'] !== 'POST' });
        req.on('data', () => {});
        req.on('end', resolve);
        req.on('error', reject);
        if (headers[':method'] === 'POST') req.end('{}');
      });
    }
  } finally {
    await new Promise<void>((r) => session.close(r));
    await recorder.close();
    await new Promise<void>((r) => server.close(() => r()));
  }
  return bySide(recorder.chunks);
}

/** Feeds the chunks from chunk `from`, cutting `offset` bytes off the first one, to a decoder joined mid-stream. */
function decodeFrom(chunks: SideChunk[], from: number, offset: number) {
  const exchanges: HttpExchange[] = [];
  const d = new Http2Decoder({ onExchange: (e) => exchanges.push(e), joinedMidStream: true });
  chunks.slice(from).forEach((c, i) => d[c.side](i === 0 ? c.bytes.subarray(offset) : c.bytes, i));
  d.end();
  return { exchanges, error: d.error, unknown: d.unrecoverableHeaderFields };
}

test('HTTP/2 joined at any point of real traffic: every field decoded is one the request or response really had', async () => {
  const requests = plannedRequests(40);
  const chunks = await recordSession(requests);
  const random = seededRandom(11);
  let withPath = 0;
  let unknown = 0;
  let grpcStatuses = 0;
  let grpcBeforeJoin = 0;
  for (let round = 0; round < 300; round++) {
    const from = random(chunks.length);
    const offset = random(chunks[from]!.bytes.length);
    const { exchanges, error, unknown: n } = decodeFrom(chunks, from, offset);
    const where = `seed 11, round ${round}: from chunk ${from} + ${offset}`;
    assert.equal(error, undefined, where);
    unknown += n;
    for (const e of exchanges) {
      const sent = requests[(e.streamId - 1) / 2]!;
      assert.ok(sent, `${where}: stream ${e.streamId} was never opened`);
      for (const [name, value] of e.requestHeaders) assert.equal(value, String(sent[name]), `${where}: stream ${e.streamId} ${name}`);
      const grpc = sent[':path'] === GRPC_PATH;
      const status = sent[':method'] === 'POST' && !grpc ? 201 : 200;
      if (e.status !== undefined) assert.equal(e.status, status, where);
      for (const [name, value] of e.responseHeaders) {
        if (name === 'x-served-for') assert.equal(value, sent['x-request-id'], where);
        if (name === 'content-type') assert.equal(value, grpc ? 'application/grpc' : 'application/json', where);
      }
      if (e.grpcStatus !== undefined || e.grpcMessage !== undefined) {
        assert.ok(grpc, `${where}: a gRPC status on ${sent[':path']}`);
        assert.deepEqual([e.grpcStatus, e.grpcMessage], [5, 'key not found'], where);
        grpcStatuses += 1;
        if (e.openedBeforeJoin) grpcBeforeJoin += 1;
      }
      if (e.path !== undefined) withPath += 1;
    }
  }
  // Not only silence: most requests after a cut are decoded, and some fields are honestly unknown.
  assert.ok(withPath > 300 * 5, `paths decoded: ${withPath}`);
  assert.ok(unknown > 0);
  // gRPC statuses are decoded, also of calls whose request came before the join.
  assert.ok(grpcStatuses > 100 && grpcBeforeJoin > 0, `gRPC statuses: ${grpcStatuses}, of calls opened before the join: ${grpcBeforeJoin}`);
});

test('fuzz: mutated and cut HTTP/2 streams joined mid-stream never throw', async () => {
  const chunks = await recordSession(plannedRequests(12));
  const random = seededRandom(12);
  for (let round = 0; round < 300; round++) {
    const mutated = chunks.map((c) => ({ side: c.side, bytes: Buffer.from(c.bytes) }));
    for (let m = 0; m < 1 + random(6); m++) {
      const c = mutated[random(mutated.length)]!;
      if (c.bytes.length) c.bytes[random(c.bytes.length)] = random(256);
    }
    const from = random(mutated.length);
    assert.doesNotThrow(() => decodeFrom(mutated, from, random(mutated[from]!.bytes.length + 1)), `seed 12, round ${round}`);
  }
});
