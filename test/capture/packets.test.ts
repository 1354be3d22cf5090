// What capture reads from tcpdump, against tshark on the same real captures (-i lo: Ethernet, -i any: SLL2):
// the pcap reader on a live stream, however the stream is cut into chunks, and the facts the orderer decides on.
import assert from 'node:assert/strict';
import { createWriteStream, readFileSync } from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { test } from 'node:test';
import { Tcpdump, packetFacts } from '../../src/capture/index.js';
import { LinkType } from '../../src/net/index.js';
import { readCaptureBatches, type PacketBlock } from '../../src/pcap/index.js';
import { GokeylogError } from '../../src/util/errors.js';
import { isRoot, requireOrSkip } from '../support/env.js';
import { loadFixtures, testPki } from '../support/fixtures.js';
import { secretTempDir } from '../support/pki.js';
import { commandExists, spawnChecked, startServer, tsharkFields } from '../support/traffic.js';
import { seededRandom } from '../support/random.js';

interface Recording {
  file: string;
  linkType: number;
}

let recordings: Promise<Recording[]> | undefined;

/** TLS 1.3 and 1.2 traffic of the Go fixtures, recorded once by our tcpdump runner on lo and on any. */
function record(): Promise<Recording[]> {
  recordings ??= (async () => {
    const server = loadFixtures({ program: 'tlsserver', arch: 'amd64', mode: 'exe', stripped: true }).at(-1)!;
    const client = loadFixtures({ program: 'tlsclient', arch: 'amd64', mode: 'exe', stripped: true }).at(-1)!;
    const pki = await testPki();
    const dir = secretTempDir('capture-packets');
    const running = await startServer(server.path, ['-addr', '127.0.0.1:0', '-cert', pki.serverCert, '-key', pki.serverKey]);
    try {
      const dumps = await Promise.all(['lo', 'any'].map(async (iface) => {
        const tcpdump = await Tcpdump.start({ iface, filter: `tcp port ${running.port}` });
        const file = path.join(dir, `${iface}.pcap`);
        return { tcpdump, file, saved: finished(tcpdump.output.pipe(createWriteStream(file, { mode: 0o600 }))) };
      }));
      try {
        for (const tls of ['1.3', '1.2']) {
          await spawnChecked(client.path, ['-url', `https://127.0.0.1:${running.port}/`, '-ca', pki.caCert, '-n', '3', '-conns', '2', '-max-version', tls]);
        }
      } finally {
        for (const d of dumps) await d.tcpdump.stop();
      }
      for (const d of dumps) await d.saved;
      return [{ file: dumps[0]!.file, linkType: LinkType.ETHERNET }, { file: dumps[1]!.file, linkType: LinkType.LINUX_SLL2 }];
    } finally {
      await running.stop();
    }
  })();
  return recordings;
}

const available = (): boolean =>
  isRoot() && ['tcpdump', 'tshark', 'setpriv'].every(commandExists) && loadFixtures({ program: 'tlsserver', arch: 'amd64', stripped: true }).length > 0;

/** The file as a stream cut at random places (1 byte to 3 KB), as a pipe may deliver it. */
function choppedStream(bytes: Buffer, seed: number): Readable {
  const random = seededRandom(seed);
  const chunks: Buffer[] = [];
  for (let at = 0; at < bytes.length; ) {
    const size = 1 + random(3000);
    chunks.push(bytes.subarray(at, at + size));
    at += size;
  }
  return Readable.from(chunks);
}

async function packetsOf(stream: Readable): Promise<{ packets: PacketBlock[]; leftover: number }> {
  const packets: PacketBlock[] = [];
  let leftover = 0;
  for await (const batch of readCaptureBatches(stream, { sourceName: 'test', onTruncatedEnd: (n) => (leftover = n) })) {
    for (const b of batch) if (b.kind === 'packet') packets.push(b);
  }
  return { packets, leftover };
}

test('the pcap reader yields from a live stream the frames tshark reads, whatever the chunking; a cut last record is reported', async (t) => {
  if (!requireOrSkip(t, available(), 'needs root, tcpdump, tshark and Go fixtures')) return;
  for (const rec of await record()) {
    const bytes = readFileSync(rec.file);
    const frames = await tsharkFields(rec.file, { fields: ['frame.cap_len', 'frame.time_epoch'] });
    for (let seed = 1; seed <= 20; seed++) {
      const { packets, leftover } = await packetsOf(choppedStream(bytes, seed));
      assert.equal(leftover, 0);
      assert.deepEqual(packets.map((p) => String(p.data.length)), frames.map(([len]) => len), `${rec.file} seed ${seed}`);
      assert.ok(packets.every((p) => p.linkType === rec.linkType));
    }
    // Nanosecond timestamps, as tshark prints them.
    const { packets } = await packetsOf(choppedStream(bytes, 99));
    const ns = (epoch: string): bigint => BigInt(epoch.replace('.', '').padEnd(epoch.indexOf('.') + 9, '0'));
    assert.deepEqual(packets.map((p) => p.timestamp), frames.map(([, epoch]) => ns(epoch!)));
    const cut = await packetsOf(choppedStream(bytes.subarray(0, bytes.length - 7), 5));
    assert.equal(cut.packets.length, frames.length - 1);
    assert.ok(cut.leftover > 0);
  }
});

test('packetFacts: SYNs, ClientHello randoms and connections as tshark sees them', async (t) => {
  if (!requireOrSkip(t, available(), 'needs root, tcpdump, tshark and Go fixtures')) return;
  for (const rec of await record()) {
    const { packets } = await packetsOf(choppedStream(readFileSync(rec.file), 1));
    const rows = await tsharkFields(rec.file, { fields: ['tcp.stream', 'tcp.flags.syn', 'tls.handshake.type', 'tls.handshake.random'] });
    assert.equal(rows.length, packets.length);
    const streamOfConn = new Map<string, string>();
    const connOfStream = new Map<string, string>();
    let hellos = 0;
    packets.forEach((p, i) => {
      const [stream, syn, types, randoms] = rows[i]!;
      const facts = packetFacts(p.linkType, p.data);
      assert.ok(facts.conn !== null);
      assert.equal(facts.syn, syn === '1' || syn === 'True', `frame ${i + 1} SYN`);
      const helloAt = (types ?? '').split(',').indexOf('1');
      const random = helloAt >= 0 ? randoms!.split(',')[helloAt]!.replace(/:/g, '') : null;
      assert.equal(facts.clientRandom, random, `frame ${i + 1} ClientHello random`);
      if (random) hellos++;
      // The same connection id both ways, one per tshark stream.
      assert.equal(streamOfConn.get(facts.conn!) ?? stream, stream);
      assert.equal(connOfStream.get(stream!) ?? facts.conn, facts.conn);
      streamOfConn.set(facts.conn!, stream!);
      connOfStream.set(stream!, facts.conn!);
    });
    assert.equal(hellos, 4, 'two connections per TLS version');
    assert.equal(connOfStream.size, 4);
  }
});

test('fuzz: mutated and truncated captures give blocks or one GokeylogError, and packetFacts never throws', async (t) => {
  if (!requireOrSkip(t, available(), 'needs root, tcpdump, tshark and Go fixtures')) return;
  for (const rec of await record()) {
    const original = readFileSync(rec.file);
    for (let seed = 1; seed <= 150; seed++) {
      const random = seededRandom(seed);
      const bytes = Buffer.from(original.subarray(0, Math.max(1, random(original.length * 1.1))));
      for (let i = random(12); i > 0; i--) bytes[random(bytes.length)] = random(256);
      try {
        const { packets } = await packetsOf(choppedStream(bytes, seed));
        for (const p of packets) {
          const facts = packetFacts(p.linkType, p.data);
          assert.ok(facts.clientRandom === null || /^[0-9a-f]{64}$/.test(facts.clientRandom));
          assert.equal(facts.bytes, p.data.length);
        }
      } catch (err) {
        assert.ok(err instanceof GokeylogError, `seed ${seed}: ${String(err)}`);
        assert.doesNotMatch(err.message, /\n/);
      }
    }
  }
});
