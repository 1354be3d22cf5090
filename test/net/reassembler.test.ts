import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TcpFlag, TcpReassembler, type ConnectionEnd, type ConnectionInfo, type Direction, type TcpSegment } from '../../src/net/index.js';
import { tlsHelloSender } from '../../src/tls/index.js';
import { seededRandom } from '../support/random.js';

const CLIENT = { ip: '10.0.0.2', port: 51000 };
const SERVER = { ip: '10.0.0.1', port: 6443 };

interface Recorded {
  info: ConnectionInfo;
  /** Per direction: the reconstructed stream, gaps filled with `undefined` markers (as lengths). */
  pieces: Record<Direction, ({ data: Buffer } | { gap: number })[]>;
  end: ConnectionEnd | null;
}

function collect(options: ConstructorParameters<typeof TcpReassembler>[1] = {}) {
  const connections: Recorded[] = [];
  const reassembler = new TcpReassembler(
    {
      onConnection(info) {
        const record: Recorded = { info, pieces: { toServer: [], toClient: [] }, end: null };
        connections.push(record);
        return {
          onData: (d, bytes) => record.pieces[d].push({ data: Buffer.from(bytes) }),
          onGap: (d, missing) => record.pieces[d].push({ gap: missing }),
          onEnd: (end) => {
            assert.equal(record.end, null, 'onEnd once');
            record.end = end;
          },
        };
      },
    },
    options,
  );
  return { reassembler, connections };
}

function segment(from: typeof CLIENT, to: typeof CLIENT, seq: number, flags: number, payload: Uint8Array = new Uint8Array(0), ack = 0): TcpSegment {
  return { src: from, dst: to, seq: seq >>> 0, ack: ack >>> 0, flags, payload, payloadLength: payload.length };
}

/** Checks that delivered bytes sit at their true stream offsets, gaps included, and covers `[0, length)`. */
function assertFaithful(pieces: Recorded['pieces'][Direction], stream: Buffer, complete: boolean): void {
  let at = 0;
  for (const piece of pieces) {
    if ('gap' in piece) {
      assert.ok(piece.gap > 0);
      at += piece.gap;
    } else {
      assert.ok(piece.data.equals(stream.subarray(at, at + piece.data.length)), `bytes at ${at} are misplaced`);
      at += piece.data.length;
    }
  }
  if (complete) assert.equal(at, stream.length);
  else assert.ok(at <= stream.length);
}

test('seeded fuzz: reordered, duplicated, overlapping and dropped segments are delivered in place, holes reported', () => {
  for (let seed = 1; seed <= 200; seed++) {
    const random = seededRandom(seed);
    const stream = Buffer.from(Array.from({ length: 2000 + random(20000) }, () => random(256)));
    const isn = random(2 ** 32); // wraps in many runs
    const serverIsn = random(2 ** 32);
    const pieces: TcpSegment[] = [];
    for (let at = 0; at < stream.length; ) {
      const length = Math.min(1 + random(1500), stream.length - at);
      // Sometimes resend starting earlier (overlap with what came before).
      const start = random() < 0.1 ? Math.max(0, at - random(500)) : at;
      pieces.push(segment(CLIENT, SERVER, isn + 1 + start, TcpFlag.ACK, stream.subarray(start, at + length), serverIsn + 1));
      at += length;
    }
    const dropped = new Set<number>();
    const shuffled: TcpSegment[] = [];
    for (const [i, p] of pieces.entries()) {
      const r = random();
      if (r < 0.03) dropped.add(i);
      else shuffled.push(p);
      if (r > 0.95) shuffled.push(p); // duplicate
    }
    // Local reordering within a small window.
    for (let i = 0; i + 1 < shuffled.length; i++) if (random() < 0.2) [shuffled[i], shuffled[i + 1]] = [shuffled[i + 1]!, shuffled[i]!];
    // Enough buffer for the reordering window (one segment): only real losses may become gaps.
    const { reassembler, connections } = collect({ maxBufferedBytes: 3000 + random(64_000) });
    reassembler.push(segment(CLIENT, SERVER, isn, TcpFlag.SYN), 1n);
    reassembler.push(segment(SERVER, CLIENT, serverIsn, TcpFlag.SYN | TcpFlag.ACK, undefined, isn + 1), 2n);
    for (const p of shuffled) reassembler.push(p, 3n);
    const fin = random() < 0.5;
    if (fin) {
      reassembler.push(segment(CLIENT, SERVER, isn + 1 + stream.length, TcpFlag.FIN | TcpFlag.ACK, undefined, serverIsn + 1), 4n);
      reassembler.push(segment(SERVER, CLIENT, serverIsn + 1, TcpFlag.FIN | TcpFlag.ACK, undefined, isn + 2 + stream.length), 5n);
    }
    reassembler.finish();
    assert.equal(connections.length, 1, `seed ${seed}`);
    const c = connections[0]!;
    assert.deepEqual([c.info.client, c.info.server, c.info.rolesFrom], [CLIENT, SERVER, 'syn']);
    assertFaithful(c.pieces.toServer, stream, fin);
    const gaps = c.pieces.toServer.some((p) => 'gap' in p);
    // No hole may be reported when every byte arrived (the last segment's loss is only known from the FIN).
    const lostBytes = [...dropped].some((i) => !shuffled.includes(pieces[i]!));
    if (!lostBytes) assert.equal(gaps, false, `seed ${seed}: a gap without loss`);
    assert.equal(c.end, fin ? 'fin' : 'capture end');
  }
});

test('roles seen from the middle: TLS ClientHello / ServerHello, else the higher port is the client', () => {
  const hello = (type: number) => Buffer.from([22, 3, 1, 0, 10, type, 0, 0, 6, 3, 3, 0, 0, 0, 0]);
  const cases: [TcpSegment, typeof CLIENT, ConnectionInfo['rolesFrom']][] = [
    [segment(CLIENT, SERVER, 100, TcpFlag.ACK | TcpFlag.PSH, hello(1)), CLIENT, 'tls'],
    [segment(SERVER, CLIENT, 100, TcpFlag.ACK | TcpFlag.PSH, hello(2)), CLIENT, 'tls'],
    [segment(SERVER, CLIENT, 100, TcpFlag.ACK | TcpFlag.PSH, Buffer.from('data')), CLIENT, 'port'],
    [segment(SERVER, CLIENT, 100, TcpFlag.SYN | TcpFlag.ACK), CLIENT, 'syn'],
  ];
  for (const [first, client, rolesFrom] of cases) {
    // TLS registers its hello heuristic from above, as analyze does.
    const { reassembler, connections } = collect({ senderHeuristics: [tlsHelloSender] });
    reassembler.push(first, 1n);
    reassembler.finish();
    assert.deepEqual([connections[0]!.info.client, connections[0]!.info.rolesFrom, connections[0]!.info.synSeen], [client, rolesFrom, rolesFrom === 'syn']);
  }
});

test('pure ACKs and FINs of unknown connections start nothing; RST ends a connection; a new SYN on the same ports is a new connection', () => {
  const { reassembler, connections } = collect();
  reassembler.push(segment(CLIENT, SERVER, 5, TcpFlag.ACK), 1n);
  reassembler.push(segment(CLIENT, SERVER, 5, TcpFlag.FIN | TcpFlag.ACK), 2n);
  assert.equal(connections.length, 0);
  reassembler.push(segment(CLIENT, SERVER, 1000, TcpFlag.SYN), 3n);
  reassembler.push(segment(CLIENT, SERVER, 1001, TcpFlag.ACK, Buffer.from('abc')), 4n);
  reassembler.push(segment(SERVER, CLIENT, 77, TcpFlag.RST), 5n);
  assert.equal(connections[0]!.end, 'rst');
  reassembler.push(segment(CLIENT, SERVER, 9000, TcpFlag.SYN), 6n);
  reassembler.push(segment(CLIENT, SERVER, 9000, TcpFlag.SYN), 6n); // SYN retransmission
  reassembler.push(segment(CLIENT, SERVER, 9001, TcpFlag.ACK, Buffer.from('de')), 7n);
  reassembler.push(segment(CLIENT, SERVER, 20000, TcpFlag.SYN), 8n); // port reuse
  reassembler.finish();
  assert.deepEqual(connections.map((c) => [c.info.id, c.end]), [[1, 'rst'], [2, 'evicted'], [3, 'capture end']]);
  assert.deepEqual(connections[1]!.pieces.toServer, [{ data: Buffer.from('de') }]);
});

test('bounded: idle connections and connections beyond the limit are evicted', () => {
  const { reassembler, connections } = collect({ maxConnections: 10, idleTimeoutNs: 1000n });
  for (let i = 0; i < 50; i++) {
    reassembler.push(segment({ ip: '10.0.0.2', port: 40000 + i }, SERVER, 1, TcpFlag.SYN), BigInt(i));
  }
  assert.ok(connections.filter((c) => c.end === 'evicted').length >= 40);
  reassembler.push(segment(CLIENT, SERVER, 1, TcpFlag.SYN), 1_000_000n);
  reassembler.finish();
  assert.equal(connections.filter((c) => c.end === null).length, 0);
});

test('bounded: out-of-order bytes over all connections share one budget', () => {
  const { reassembler, connections } = collect({ maxBufferedBytes: 1 << 20, maxTotalBufferedBytes: 5000 });
  const payload = Buffer.alloc(1000, 7);
  for (let i = 0; i < 10; i++) {
    const client = { ip: '10.0.0.2', port: 40000 + i };
    reassembler.push(segment(client, SERVER, 0, TcpFlag.SYN), 1n);
    // Byte 1..1000 never arrives; 1000 bytes wait behind the hole.
    reassembler.push(segment(client, SERVER, 1001, TcpFlag.ACK, payload), 2n);
  }
  // The budget ran out after five connections' worth: later ones had to give up their hole at once.
  const early = connections.filter((c) => c.pieces.toServer.length > 0);
  assert.ok(early.length >= 5, `${early.length} connections declared their hole early`);
  for (const c of early) assert.deepEqual(c.pieces.toServer, [{ gap: 1000 }, { data: payload }]);
  reassembler.finish();
  for (const c of connections) assert.deepEqual(c.pieces.toServer, [{ gap: 1000 }, { data: payload }]);
});

test('roles from the middle: an endpoint seen accepting connections is the server, whatever the ports', () => {
  const highServer = { ip: '10.0.0.1', port: 60000 };
  const { reassembler, connections } = collect();
  reassembler.push(segment({ ip: '10.0.0.3', port: 41000 }, highServer, 1, TcpFlag.SYN), 1n);
  // Joined in the middle: the server (port 60000) speaks first, to a client on a lower port.
  reassembler.push(segment(highServer, CLIENT, 500, TcpFlag.ACK | TcpFlag.PSH, Buffer.from('data')), 2n);
  reassembler.finish();
  assert.deepEqual([connections[1]!.info.server, connections[1]!.info.rolesFrom], [highServer, 'known server']);
});

test('a RST answering the SYN (no SYN-ACK, no data) ends the connection as refused; a RST after data does not', () => {
  const { reassembler, connections } = collect();
  reassembler.push(segment(CLIENT, SERVER, 1000, TcpFlag.SYN), 1n);
  reassembler.push(segment(SERVER, CLIENT, 0, TcpFlag.RST | TcpFlag.ACK), 2n);
  reassembler.push(segment(CLIENT, SERVER, 5000, TcpFlag.SYN), 3n);
  reassembler.push(segment(SERVER, CLIENT, 700, TcpFlag.SYN | TcpFlag.ACK), 4n);
  reassembler.push(segment(SERVER, CLIENT, 701, TcpFlag.RST), 5n);
  assert.deepEqual(connections.map((c) => c.end), ['refused', 'rst']);
});
