import assert from 'node:assert/strict';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { decodePacket, IpFragments, LinkType, type TcpSegment } from '../../src/net/index.js';
import { isRoot, requireOrSkip } from '../support/env.js';
import { secretTempDir } from '../support/pki.js';
import { spawnChecked } from '../support/traffic.js';
import { captureTcpExchange, type Frame } from '../tls/pipeline.js';
import { pcapHeader, pcapRecord } from '../pcap/handBuilt.js';
import { seededRandom } from '../support/random.js';

/** A real capture on lo of a TCP exchange over `host` (127.0.0.1 or ::1): handshake, data both ways, FIN. */
async function captureLoopback(host: string): Promise<Frame[]> {
  const { frames } = await captureTcpExchange(
    host,
    (socket) => socket.on('data', (d: Buffer) => socket.write(Buffer.concat([d, Buffer.alloc(3000, 1)]))),
    async (socket) => {
      let received = 0;
      socket.on('data', (d: Buffer) => {
        received += d.length;
        if (received >= 3005) socket.end();
      });
      socket.write('hello');
      await once(socket, 'close');
    },
  );
  return frames;
}

/** Writes a classic pcap file (microsecond timestamps) with one link type; `originalLength` marks snap-length cuts. */
function writePcap(file: string, linkType: number, frames: { data: Uint8Array; originalLength?: number }[]): void {
  const records = frames.map((frame, i) => pcapRecord(true, 1_700_000_000 + i, 0, Buffer.from(frame.data), frame.originalLength));
  writeFileSync(file, Buffer.concat([pcapHeader(true, false, linkType, 262144), ...records]), { mode: 0o600 });
}

interface RefereeRow {
  src: string;
  srcPort: number;
  dst: string;
  dstPort: number;
  seq: number;
  ack: number;
  flags: number;
  length: number;
}

/** tshark's reading of every frame: null where it sees no TCP. */
async function tsharkTcp(file: string): Promise<(RefereeRow | null)[]> {
  // The address columns show the innermost network layer, as our segment does (tunnels included).
  const fields = ['_ws.col.Source', 'tcp.srcport', '_ws.col.Destination', 'tcp.dstport', 'tcp.seq_raw', 'tcp.ack_raw', 'tcp.flags', 'tcp.len'];
  const args = ['-n', '-r', file, '-o', 'tcp.analyze_sequence_numbers:FALSE', '-T', 'fields', '-E', 'separator=,', '-E', 'occurrence=l'];
  for (const f of fields) args.push('-e', f);
  const { stdout } = await spawnChecked('tshark', args, { timeoutMs: 60_000 });
  return stdout
    .trimEnd()
    .split('\n')
    .map((line) => {
      const [src, srcPort, dst, dstPort, seq, ack, flags, length] = line.split(',');
      if (!srcPort) return null;
      return {
        src: src!,
        srcPort: Number(srcPort),
        dst: dst!,
        dstPort: Number(dstPort),
        seq: Number(seq),
        ack: Number(ack),
        flags: Number(flags),
        length: Number(length),
      };
    });
}

function ours(segment: TcpSegment | null): RefereeRow | null {
  if (!segment) return null;
  return {
    src: segment.src.ip,
    srcPort: segment.src.port,
    dst: segment.dst.ip,
    dstPort: segment.dst.port,
    seq: segment.seq,
    ack: segment.ack,
    flags: segment.flags,
    length: segment.payloadLength,
  };
}

/** Rewrites Ethernet frames into another link layer (or a changed Ethernet/IP frame). */
type Rewrite = (ethernet: Buffer) => Buffer;

const etherType = (f: Buffer): number => f.readUInt16BE(12);
const isIpv6 = (f: Buffer): boolean => etherType(f) === 0x86dd;
const ip = (f: Buffer): Buffer => f.subarray(14);
const u16 = (v: number): Buffer => Buffer.from([v >> 8, v & 0xff]);

const LINK_LAYERS: { name: string; linkType: number; rewrite: Rewrite }[] = [
  { name: 'Ethernet', linkType: LinkType.ETHERNET, rewrite: (f) => f },
  {
    name: 'Ethernet 802.1Q',
    linkType: LinkType.ETHERNET,
    rewrite: (f) => Buffer.concat([f.subarray(0, 12), u16(0x8100), u16(42), f.subarray(12)]),
  },
  {
    name: 'Ethernet QinQ',
    linkType: LinkType.ETHERNET,
    rewrite: (f) => Buffer.concat([f.subarray(0, 12), u16(0x88a8), u16(7), u16(0x8100), u16(42), f.subarray(12)]),
  },
  {
    name: 'LINUX_SLL',
    linkType: LinkType.LINUX_SLL,
    rewrite: (f) => Buffer.concat([u16(0), u16(772), u16(6), Buffer.alloc(8), u16(etherType(f)), ip(f)]),
  },
  {
    name: 'LINUX_SLL2',
    linkType: LinkType.LINUX_SLL2,
    rewrite: (f) => Buffer.concat([u16(etherType(f)), u16(0), Buffer.from([0, 0, 0, 1]), u16(772), Buffer.from([0, 6]), Buffer.alloc(8), ip(f)]),
  },
  { name: 'RAW', linkType: LinkType.RAW, rewrite: ip },
  {
    name: 'NULL (host byte order)',
    linkType: LinkType.NULL,
    rewrite: (f) => {
      const family = Buffer.alloc(4);
      family.writeUInt32LE(isIpv6(f) ? 24 : 2);
      return Buffer.concat([family, ip(f)]);
    },
  },
  {
    name: 'LOOP (network byte order)',
    linkType: LinkType.LOOP,
    rewrite: (f) => {
      const family = Buffer.alloc(4);
      family.writeUInt32BE(isIpv6(f) ? 24 : 2);
      return Buffer.concat([family, ip(f)]);
    },
  },
];

/** An Ethernet + IPv6 frame with extension `headers` (their own next-header chain, ending in TCP) before its TCP header. */
function withIpv6ExtensionHeaders(f: Buffer, firstHeader: number, headers: Buffer): Buffer {
  const out = Buffer.concat([f.subarray(0, 54), headers, f.subarray(54)]);
  out[20] = firstHeader;
  out.writeUInt16BE(out.readUInt16BE(18) + headers.length, 18);
  return out;
}

/** IP-level variations tshark must read exactly like us. */
const IP_VARIANTS: { name: string; applies: (f: Buffer) => boolean; rewrite: Rewrite }[] = [
  {
    name: 'IPv4 options (NOP NOP NOP EOL)',
    applies: (f) => !isIpv6(f),
    rewrite: (f) => {
      const out = Buffer.concat([f.subarray(0, 34), Buffer.from([1, 1, 1, 0]), f.subarray(34)]);
      out[14] = 0x46;
      out.writeUInt16BE(out.readUInt16BE(16) + 4, 16);
      return out;
    },
  },
  {
    name: 'IPv6 hop-by-hop and destination options headers',
    applies: isIpv6,
    // Hop-by-hop (next: destination options), destination options (next: TCP), each a PadN filling 8 bytes.
    rewrite: (f) => withIpv6ExtensionHeaders(f, 0, Buffer.from([60, 0, 1, 4, 0, 0, 0, 0, 6, 0, 1, 4, 0, 0, 0, 0])),
  },
  {
    name: 'IPv6 atomic fragment header',
    applies: isIpv6,
    rewrite: (f) => withIpv6ExtensionHeaders(f, 44, Buffer.from([6, 0, 0, 0, 0, 0, 0, 9])),
  },
  {
    name: 'IPv4 first fragment (more fragments follow): skipped',
    applies: (f) => !isIpv6(f),
    rewrite: (f) => {
      const out = Buffer.from(f);
      out[20] |= 0x20;
      return out;
    },
  },
  {
    name: 'Ethernet padding after the IP packet',
    applies: () => true,
    rewrite: (f) => Buffer.concat([f, Buffer.alloc(6, 0xee)]),
  },
];

/** An outer Ethernet + IPv4 header (192.0.2.1 → 192.0.2.2) around `payload` of IP protocol `protocol`. */
function outerIpv4(protocol: number, payload: Buffer): Buffer {
  const ipHeader = Buffer.from('450000000000400040000000c0000201c0000202', 'hex');
  ipHeader.writeUInt16BE(20 + payload.length, 2);
  ipHeader[9] = protocol;
  return Buffer.concat([Buffer.alloc(12), u16(0x0800), ipHeader, payload]);
}

function udp(dstPort: number, payload: Buffer): Buffer {
  const header = Buffer.alloc(8);
  header.writeUInt16BE(54321, 0);
  header.writeUInt16BE(dstPort, 2);
  header.writeUInt16BE(8 + payload.length, 4);
  return Buffer.concat([header, payload]);
}

/** An Ethernet/IPv4 frame split into IP fragments carrying `size` payload bytes each (a multiple of 8). */
function fragmentIpv4(frame: Buffer, size: number): Buffer[] {
  const headerLength = (frame[14]! & 0x0f) * 4;
  const head = frame.subarray(0, 14 + headerLength);
  const payload = frame.subarray(14 + headerLength, 14 + frame.readUInt16BE(16));
  const out: Buffer[] = [];
  for (let at = 0; at < payload.length; at += size) {
    const piece = payload.subarray(at, at + size);
    const fragment = Buffer.concat([head, piece]);
    fragment.writeUInt16BE(headerLength + piece.length, 16);
    fragment.writeUInt16BE((at + size < payload.length ? 0x2000 : 0) | (at / 8), 20);
    out.push(fragment);
  }
  return out;
}

/** An Ethernet/IPv6 frame split into fragments (Fragment header) carrying `size` payload bytes each. */
function fragmentIpv6(frame: Buffer, size: number): Buffer[] {
  const head = Buffer.from(frame.subarray(0, 54));
  const payload = frame.subarray(54, 54 + frame.readUInt16BE(18));
  const next = head[20]!;
  head[20] = 44;
  const out: Buffer[] = [];
  for (let at = 0; at < payload.length; at += size) {
    const piece = payload.subarray(at, at + size);
    const fragmentHeader = Buffer.from([next, 0, 0, 0, 0, 0, 0x12, 0x34]);
    fragmentHeader.writeUInt16BE(at | (at + size < payload.length ? 1 : 0), 2);
    const fragment = Buffer.concat([head, fragmentHeader, piece]);
    fragment.writeUInt16BE(8 + piece.length, 18);
    out.push(fragment);
  }
  return out;
}

/** Kubernetes overlay encapsulations of a captured frame, as seen on a node's physical interface. */
const TUNNELS: { name: string; rewrite: Rewrite }[] = [
  { name: 'VXLAN', rewrite: (f) => outerIpv4(17, udp(4789, Buffer.concat([Buffer.from('0800000000000100', 'hex'), f]))) },
  { name: 'Geneve', rewrite: (f) => outerIpv4(17, udp(6081, Buffer.concat([Buffer.from('0000655800000100', 'hex'), f]))) },
  { name: 'IP-in-IP', rewrite: (f) => outerIpv4(isIpv6(f) ? 41 : 4, ip(f)) },
  { name: 'GRE', rewrite: (f) => outerIpv4(47, Buffer.concat([u16(0), u16(etherType(f)), ip(f)])) },
  { name: 'GRE with key', rewrite: (f) => outerIpv4(47, Buffer.concat([u16(0x2000), u16(etherType(f)), Buffer.from('0000002a', 'hex'), ip(f)])) },
  { name: 'VXLAN inside IP-in-IP', rewrite: (f) => outerIpv4(4, ip(outerIpv4(17, udp(4789, Buffer.concat([Buffer.from('0800000000000100', 'hex'), f]))))) },
];

async function compareWithTshark(
  t: TestContext,
  name: string,
  linkType: number,
  frames: { data: Uint8Array; originalLength?: number }[],
  fragments?: IpFragments,
): Promise<void> {
  const file = path.join(secretTempDir('net'), 'rewritten.pcap');
  writePcap(file, linkType, frames);
  const referee = await tsharkTcp(file);
  assert.equal(referee.length, frames.length, name);
  let tcp = 0;
  frames.forEach((frame, i) => {
    const segment = decodePacket(linkType, frame.data, fragments);
    assert.deepEqual(ours(segment), referee[i], `${name}, frame ${i + 1}`);
    if (segment) {
      tcp++;
      // The payload view lies inside the frame (or the reassembled datagram) and is as long as captured.
      if (!fragments) assert.equal(segment.payload.buffer, (frame.data as Uint8Array).buffer);
      if (frame.originalLength === undefined) assert.equal(segment.payload.length, segment.payloadLength);
      else assert.ok(segment.payload.length < segment.payloadLength || segment.payloadLength === 0);
    }
  });
  t.diagnostic(`${name}: ${tcp}/${frames.length} TCP frames agree with tshark`);
}

for (const host of ['127.0.0.1', '::1']) {
  test(`decodePacket agrees with tshark on a real ${host} capture in every link layer and tunnel`, async (t) => {
    if (!requireOrSkip(t, isRoot(), 'capturing on lo needs root')) return;
    const frames = await captureLoopback(host);
    assert.ok(frames.length >= 8 && frames.every((f) => f.linkType === LinkType.ETHERNET));
    for (const layer of LINK_LAYERS) {
      await compareWithTshark(t, layer.name, layer.linkType, frames.map((f) => ({ data: layer.rewrite(Buffer.from(f.data)) })));
    }
    for (const variant of IP_VARIANTS) {
      const applicable = frames.filter((f) => variant.applies(Buffer.from(f.data)));
      if (applicable.length === 0) continue;
      await compareWithTshark(t, variant.name, LinkType.ETHERNET, applicable.map((f) => ({ data: variant.rewrite(Buffer.from(f.data)) })));
    }
    for (const tunnel of TUNNELS) {
      await compareWithTshark(t, tunnel.name, LinkType.ETHERNET, frames.map((f) => ({ data: tunnel.rewrite(Buffer.from(f.data)) })));
    }
    // Every datagram cut into fragments of 64 payload bytes, sent last first (tshark reassembles too).
    const cutUp = host === '127.0.0.1' ? fragmentIpv4 : fragmentIpv6;
    const fragmented = frames.flatMap((f) => cutUp(Buffer.from(f.data), 64).reverse().map((data) => ({ data })));
    assert.ok(fragmented.length > frames.length * 3);
    await compareWithTshark(t, 'IP fragments (reassembled)', LinkType.ETHERNET, fragmented, new IpFragments());
    // Frames cut by the snap length: the declared TCP length stays, the payload is what was captured.
    const cut = frames.map((f) => (f.data.length > 100 ? { data: f.data.subarray(0, 80), originalLength: f.data.length } : { data: f.data }));
    await compareWithTshark(t, 'snap length 80', LinkType.ETHERNET, cut);
  });
}

test('decodePacket: frames too short for their headers, unknown link types and non-TCP give null', () => {
  const tcpOverIpv4 = Buffer.from('45000028000140004006000008080808c0a80001' + '01bb04d2000000010000000050100100000000000', 'hex');
  assert.ok(decodePacket(LinkType.RAW, tcpOverIpv4.subarray(0, 40)));
  for (let n = 0; n < 40; n++) assert.equal(decodePacket(LinkType.RAW, tcpOverIpv4.subarray(0, n)), null, `cut at ${n}`);
  assert.equal(decodePacket(147, tcpOverIpv4), null);
  const udp = Buffer.from(tcpOverIpv4);
  udp[9] = 17;
  assert.equal(decodePacket(LinkType.RAW, udp), null);
  const badDataOffset = Buffer.from(tcpOverIpv4);
  badDataOffset[32] = 0x40; // TCP header length 16 < 20
  assert.equal(decodePacket(LinkType.RAW, badDataOffset), null);
});

test('seeded fuzz: decodePacket never throws on mangled frames and its payload stays inside the frame', () => {
  const ipv4 = Buffer.from(
    '000000000000000000000000' + '0800' + '4500003c00014000400600007f0000017f000001' + '01bb04d20000000100000000801001000000000001010a0000000000000000' + '68656c6c6f',
    'hex',
  );
  const ipv6 = Buffer.from(
    '000000000000000000000000' + '86dd' + '6000000000190640' + '00000000000000000000000000000001'.repeat(2) + '01bb04d2000000010000000050100100000000' + '00' + '68656c6c6f',
    'hex',
  );
  const random = seededRandom(7);
  const linkTypes = [LinkType.ETHERNET, LinkType.RAW, LinkType.LINUX_SLL, LinkType.LINUX_SLL2, LinkType.NULL, LinkType.LOOP, LinkType.IPV4, LinkType.IPV6];
  // Mangled flags make fragments: the reassembly cache sees them too.
  const fragments = new IpFragments();
  for (let i = 0; i < 20_000; i++) {
    const frame = Buffer.from(random() < 0.5 ? ipv4 : ipv6);
    for (let edits = 1 + random(4); edits > 0; edits--) frame[random(frame.length)] = random(256);
    const cut = frame.subarray(0, random((frame.length + 1)));
    const segment = decodePacket(linkTypes[i % linkTypes.length]!, cut, i % 2 ? fragments : undefined);
    if (!segment) continue;
    const inFrame = segment.payload.buffer === cut.buffer;
    if (inFrame) assert.ok(segment.payload.byteOffset >= cut.byteOffset && segment.payload.byteOffset + segment.payload.length <= cut.byteOffset + cut.length);
    assert.ok(segment.payloadLength >= 0 && segment.seq >= 0 && segment.seq < 2 ** 32);
  }
});
