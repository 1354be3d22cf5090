import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SecretsOrderer, type OrderedBlock, type OrderedKey, type PacketFacts } from '../../src/capture/index.js';
import { seededRandom } from '../support/random.js';

const HOLD_MS = 100;
const orderer = (maxHeldBytes = 1 << 20): SecretsOrderer<string> => new SecretsOrderer<string>({ holdMs: HOLD_MS, maxHeldBytes });

const RANDOM_A = 'aa'.repeat(32);
const RANDOM_B = 'bb'.repeat(32);

/** Facts of a packet on connection `conn`; a ClientHello when `hello` is given. */
function facts(conn: string | null, opts: { syn?: boolean; hello?: string; tls?: boolean; bytes?: number } = {}): PacketFacts {
  return { conn, syn: opts.syn ?? false, clientRandom: opts.hello ?? null, tlsRecord: opts.tls ?? opts.hello !== undefined, bytes: opts.bytes ?? 100 };
}

const tls13 = (random: string): OrderedKey[] =>
  ['CLIENT_HANDSHAKE_TRAFFIC_SECRET', 'SERVER_HANDSHAKE_TRAFFIC_SECRET', 'CLIENT_TRAFFIC_SECRET_0', 'SERVER_TRAFFIC_SECRET_0'].map((label) => ({
    label, clientRandom: random, line: `${label} ${random} ${'11'.repeat(32)}`,
  }));
const tls12 = (random: string): OrderedKey[] => [{ label: 'CLIENT_RANDOM', clientRandom: random, line: `CLIENT_RANDOM ${random} ${'22'.repeat(48)}` }];

/** Blocks as short strings: packets by name, DSBs as "DSB(n lines)". */
const show = (blocks: OrderedBlock<string>[]): string[] =>
  blocks.map((b) => (b.kind === 'packet' ? b.packet : `DSB(${b.keyLog.trim().split('\n').length})`));

test('a TLS 1.3 connection waits for all four secrets; everything behind it waits too, in order', () => {
  const o = orderer();
  const out: string[] = [];
  out.push(...show(o.addPacket(facts('c1', { syn: true }), 'syn', 0)));
  out.push(...show(o.addPacket(facts('c1', { hello: RANDOM_A }), 'hello', 1)));
  out.push(...show(o.addPacket(facts('other', { syn: true }), 'plain', 2)));
  out.push(...show(o.addPacket(facts('c1', { tls: true }), 'serverhello', 3)));
  assert.deepEqual(out, ['syn'], 'the SYN needs no keys; the ClientHello and all after it wait');
  assert.equal(o.held, 3);
  // Handshake secrets alone do not complete the set.
  out.push(...show(o.addKeys(tls13(RANDOM_A).slice(0, 2), 4)));
  assert.deepEqual(out, ['syn', 'DSB(2)']);
  out.push(...show(o.addKeys(tls13(RANDOM_A).slice(2), 5)));
  assert.deepEqual(out, ['syn', 'DSB(2)', 'DSB(2)', 'hello', 'plain', 'serverhello']);
  out.push(...show(o.addPacket(facts('c1', { tls: true }), 'appdata', 6)));
  assert.deepEqual(out.at(-1), 'appdata', 'a keyed connection is not held again');
  assert.deepEqual({ ...o.stats }, {
    packets: 5, packetsHeld: 2, packetsReleasedWithoutKeys: 0, keys: 4, secretsBlocks: 2,
    connectionsDecryptable: 1, connectionsKeysMissing: 0, connectionsOpenedBefore: 0, midstreamLines: 0,
  });
});

test('TLS 1.2: CLIENT_RANDOM alone completes the keys; keys that came first mean no holding at all', () => {
  const o = orderer();
  assert.deepEqual(show(o.addKeys(tls12(RANDOM_B), 0)), ['DSB(1)']);
  assert.deepEqual(show(o.addPacket(facts('c2', { hello: RANDOM_B }), 'hello', 1)), ['hello']);
  assert.equal(o.stats.packetsHeld, 0);
  assert.equal(o.stats.connectionsDecryptable, 1);
});

test('duplicate keys make no second DSB', () => {
  const o = orderer();
  assert.deepEqual(show(o.addKeys(tls12(RANDOM_A), 0)), ['DSB(1)']);
  assert.deepEqual(show(o.addKeys(tls12(RANDOM_A), 1)), []);
  assert.equal(o.stats.keys, 1);
});

test('keys that never come: the packets leave after the hold time, and the connection is not held again', () => {
  const o = orderer();
  assert.deepEqual(show(o.addPacket(facts('c1', { hello: RANDOM_A }), 'hello', 0)), []);
  assert.deepEqual(show(o.addPacket(facts('c1', { tls: true }), 'more', 10)), []);
  assert.equal(o.deadline, HOLD_MS);
  assert.deepEqual(show(o.release(HOLD_MS - 1)), []);
  // The connection gives up at the head's deadline, so the packet behind it (same connection) goes too.
  assert.deepEqual(show(o.release(HOLD_MS)), ['hello', 'more']);
  assert.deepEqual(show(o.addPacket(facts('c1', { tls: true }), 'later', HOLD_MS + 1)), ['later']);
  assert.equal(o.stats.connectionsKeysMissing, 1);
  assert.equal(o.stats.packetsReleasedWithoutKeys, 2);
  assert.equal(o.deadline, null);
});

test('the memory cap lets the head out early', () => {
  const o = orderer(250);
  o.addPacket(facts('c1', { hello: RANDOM_A, bytes: 100 }), 'p1', 0);
  o.addPacket(facts('c1', { tls: true, bytes: 100 }), 'p2', 1);
  assert.deepEqual(show(o.addPacket(facts('c1', { tls: true, bytes: 100 }), 'p3', 2)), ['p1', 'p2', 'p3']);
});

test('a TLS connection seen without SYN or ClientHello was opened before the capture: counted, never held', () => {
  const o = orderer();
  assert.deepEqual(show(o.addPacket(facts('old', { tls: true }), 'a', 0)), ['a']);
  assert.deepEqual(show(o.addPacket(facts('old', { tls: true }), 'b', 1)), ['b']);
  assert.deepEqual(show(o.addPacket(facts('new', { syn: true }), 'c', 2)), ['c']);
  assert.deepEqual(show(o.addPacket(facts('new', { tls: true }), 'd', 3)), ['d'], 'a connection with a SYN is not an old one');
  assert.deepEqual(show(o.addPacket(facts(null), 'udp', 4)), ['udp']);
  assert.equal(o.stats.connectionsOpenedBefore, 1);
});

test('finish() lets out everything still held, in order', () => {
  const o = orderer();
  o.addPacket(facts('c1', { hello: RANDOM_A }), 'x', 0);
  o.addPacket(facts('c2', { syn: true }), 'y', 1);
  assert.deepEqual(show(o.finish()), ['x', 'y']);
  assert.equal(o.held, 0);
});

test('random interleavings: every packet out once, in order; none before its keys unless its connection timed out', () => {
  type P = { id: number; conn: string; fromHello: boolean; arrival: number };
  for (let seed = 1; seed <= 300; seed++) {
    const random = seededRandom(seed);
    const hold = 50;
    const o = new SecretsOrderer<P>({ holdMs: hold, maxHeldBytes: 1 << 30 });
    const out: { block: OrderedBlock<P>; at: number }[] = [];
    const take = (blocks: OrderedBlock<P>[], at: number): void => void out.push(...blocks.map((block) => ({ block, at })));
    const conns = Array.from({ length: 1 + random(5) }, (_, i) => ({
      name: `c${i}`, random: i.toString(16).padStart(2, '0').repeat(32), tls12: random() < 0.5, sent: 0,
    }));
    let now = 0;
    let id = 0;
    for (let step = 0; step < 200; step++) {
      now += random(5);
      const c = conns[random(conns.length)]!;
      const r = random();
      if (r < 0.15) {
        const keys = c.tls12 ? tls12(c.random) : tls13(c.random);
        take(o.addKeys(keys.filter(() => random() < 0.6), now), now);
      } else if (r < 0.25) {
        take(o.release(now), now);
      } else {
        const f = facts(c.name, { syn: c.sent === 0, hello: c.sent === 1 ? c.random : undefined, tls: c.sent >= 1 });
        take(o.addPacket(f, { id: id++, conn: c.name, fromHello: c.sent >= 1, arrival: now }, now), now);
        c.sent++;
      }
    }
    take(o.finish(), Number.POSITIVE_INFINITY);

    const packets = out.flatMap((x) => (x.block.kind === 'packet' ? [{ ...x.block.packet, released: x.at }] : []));
    assert.deepEqual(packets.map((p) => p.id), Array.from({ length: id }, (_, i) => i), `seed ${seed}: each packet once, in order`);
    const written = new Set<string>();
    const timedOut = new Set<string>();
    for (const x of out) {
      if (x.block.kind === 'secrets') {
        for (const line of x.block.keyLog.trim().split('\n')) written.add(line.split(' ').slice(0, 2).join(' '));
        continue;
      }
      const p = x.block.packet;
      if (!p.fromHello) continue;
      const c = conns.find((k) => k.name === p.conn)!;
      const complete = (c.tls12 ? tls12(c.random) : tls13(c.random)).every((k) => written.has(`${k.label} ${k.clientRandom}`));
      if (x.at >= p.arrival + hold) timedOut.add(p.conn);
      assert.ok(complete || timedOut.has(p.conn), `seed ${seed}: packet ${p.id} of ${p.conn} left before its keys and before its hold time`);
    }
  }
});

test('while the sweep runs, a connection opened before waits (past holdMs) for its mid-stream DSB; new connections behind it keep their order', () => {
  const o = orderer();
  o.awaitMidstream();
  const out: string[] = [];
  out.push(...show(o.addPacket(facts('new', { syn: true }), 'new-syn', 0)));
  out.push(...show(o.addPacket(facts('old', { tls: true }), 'old-1', 1)));
  out.push(...show(o.addPacket(facts('new', {}), 'new-ack', 2)));
  assert.deepEqual(out, ['new-syn'], 'the old connection waits; the new one behind it keeps the file in order');
  assert.equal(o.deadline, null, 'no hold timer: the sweep ends the wait');
  out.push(...show(o.release(HOLD_MS * 100)));
  assert.deepEqual(out, ['new-syn'], 'holdMs does not let it out');
  out.push(...show(o.addMidstream(['# GOKEYLOG_MIDSTREAM v=1 a', '# GOKEYLOG_MIDSTREAM v=1 b'], HOLD_MS * 100)));
  assert.deepEqual(out, ['new-syn', 'DSB(2)', 'old-1', 'new-ack']);
  out.push(...show(o.addPacket(facts('old', { tls: true }), 'old-2', HOLD_MS * 101)));
  assert.deepEqual(out.at(-1), 'old-2', 'after the sweep it passes');
  assert.deepEqual([o.stats.midstreamLines, o.stats.connectionsOpenedBefore, o.stats.packetsReleasedWithoutKeys], [2, 1, 0]);
});

test('a sweep that gives no lines, the memory cap, and the end of the capture all let the waiting packets out', () => {
  const none = orderer();
  none.awaitMidstream();
  assert.deepEqual(show(none.addPacket(facts('old', { tls: true }), 'p', 0)), []);
  assert.deepEqual(show(none.addMidstream([], 1)), ['p'], 'no DSB for no lines');
  const capped = orderer(150);
  capped.awaitMidstream();
  assert.deepEqual(show(capped.addPacket(facts('old', { tls: true }), 'p1', 0)), []);
  assert.deepEqual(show(capped.addPacket(facts('old', { tls: true }), 'p2', 1)), ['p1']);
  const ended = orderer();
  ended.awaitMidstream();
  ended.addPacket(facts('old', { tls: true }), 'p', 0);
  assert.deepEqual(show(ended.finish()), ['p']);
});
