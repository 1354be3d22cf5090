/**
 * bench/analyze: `gokeylog analyze --json` against tshark on a large capture of Kubernetes-like HTTP/2
 * over TLS 1.3, in the same run. Prints both times, the ratio (goal ≥ 20× faster), the requests each
 * found (we must find every request tshark finds) and peak RSS (goal < 512 MB).
 *
 *   node --import tsx bench/analyze.ts [--size MB] [--skip-tshark]      (root: the seed session is captured with tcpdump)
 *
 * The capture is built once and cached under $GOKEYLOG_CACHE/bench/: a real session of the Go fixture
 * server and client (client certificates, large pod lists, watch streams, creates), captured on lo, then
 * replicated until the size is reached. Each replica gets its own client address (127.x.y.z, IPv4 header
 * checksum fixed) and is interleaved with others in time; the TLS bytes are verbatim, so the client randoms
 * and the seed's key log still decrypt every replica.
 */
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import path from 'node:path';
import { forEachPacket } from '../src/pcap/index.js';
import { cacheDir } from '../src/util/cache.js';
import { measure, ourCli } from './support.js';
import { loadFixtures, testPki } from '../test/support/fixtures.js';
import { spawnChecked, startProcess, startServer } from '../test/support/traffic.js';
import { setTimeout as sleep } from 'node:timers/promises';

const args = process.argv.slice(2);
const sizeMb = Number(args[args.indexOf('--size') + 1] ?? 0) || 1024;
const skipTshark = args.includes('--skip-tshark');
const LINKTYPE_ETHERNET = 1;
/** Kubernetes-like calls: large pod lists, watch streams, creates, health checks. */
const SEED_PATHS = ['/api/v1/namespaces/default/pods?limit=500', '/api/v1/namespaces/default/pods?watch=1', '/apis/apps/v1/namespaces/default/deployments', '/healthz', '/api/v1/namespaces/kube-system/pods?limit=50'];
/** Replicas interleaved at a time: that many copies of the seed's connections are open together. */
const INTERLEAVE = 8;

interface SeedPacket {
  tsNs: bigint;
  frame: Buffer;
  /** Offset of the IPv4 source address and whether the client sent this packet. */
  ipOffset: number;
  fromClient: boolean;
}

async function buildSeed(dir: string): Promise<{ pcap: string; keyLog: string; port: number }> {
  const pcap = path.join(dir, 'seed.pcap');
  const keyLog = path.join(dir, 'seed.keylog');
  const portFile = path.join(dir, 'seed.port');
  if (existsSync(pcap) && existsSync(keyLog) && existsSync(portFile)) return { pcap, keyLog, port: Number(readFileSync(portFile, 'utf8')) };
  const [server] = loadFixtures({ program: 'tlsserver', arch: 'amd64', mode: 'exe', stripped: false }).slice(-1);
  const [client] = loadFixtures({ program: 'tlsclient', arch: 'amd64', mode: 'exe', stripped: false }).slice(-1);
  if (!server || !client) throw new Error('Go fixtures are not built: run npm run setup first');
  const pki = await testPki();
  for (const file of [pcap, keyLog]) writeSyncFile(file, '');
  const running = await startServer(server.path, ['-addr', '127.0.0.1:0', '-cert', pki.serverCert, '-key', pki.serverKey, '-client-ca', pki.caCert, '-keylog', keyLog]);
  try {
    // A large kernel buffer (-B, KiB): at loopback speed tcpdump's default one drops segments.
    const { process: tcpdump } = await startProcess('tcpdump', ['-i', 'lo', '-B', '262144', '-U', '--immediate-mode', '-n', '-Z', 'root', '-w', pcap, `tcp port ${running.port}`], { ready: /listening on/, readyOn: 'stderr' });
    try {
      const clientArgs = ['-url', `https://127.0.0.1:${running.port}/`, '-ca', pki.caCert, '-cert', pki.clientCert, '-key', pki.clientKey, '-n', '400', '-conns', '8',
        '-ua', 'kube-controller-manager/v1.30.0 (linux/amd64) kubernetes/abcdef/bench'];
      for (const p of SEED_PATHS) clientArgs.push('-path', p);
      await spawnChecked(client.path, clientArgs, { timeoutMs: 120_000 });
      await sleep(500); // let the last segments reach tcpdump (not a measurement)
    } finally {
      await tcpdump.stop('SIGINT');
    }
  } finally {
    await running.stop();
  }
  writeSyncFile(portFile, String(running.port));
  return { pcap, keyLog, port: running.port };
}

function writeSyncFile(file: string, text: string): void {
  const fd = openSync(file, 'w', 0o600);
  writeSync(fd, text);
  closeSync(fd);
}

async function readSeed(pcap: string, port: number): Promise<SeedPacket[]> {
  const packets: SeedPacket[] = [];
  await forEachPacket(pcap, (p) => {
    if (p.linkType !== LINKTYPE_ETHERNET) throw new Error('the seed capture is expected to be Ethernet (tcpdump -i lo)');
    const frame = Buffer.from(p.data);
    if (frame.readUInt16BE(12) !== 0x0800) return; // IPv4 only (the fixture listens on 127.0.0.1)
    const ihl = (frame[14]! & 0x0f) * 4;
    const dstPort = frame.readUInt16BE(14 + ihl + 2);
    packets.push({ tsNs: p.timestamp, frame, ipOffset: 14, fromClient: dstPort === port });
  });
  return packets;
}

/** Rewrites the client address to 127.a.b.c for replica `r` and fixes the IPv4 header checksum. */
function rewrite(p: SeedPacket, r: number): Buffer {
  const f = Buffer.from(p.frame);
  const ip = p.ipOffset;
  const addr = ip + (p.fromClient ? 12 : 16);
  const host = r + 2; // 127.0.0.2 upwards: never the server's 127.0.0.1
  f[addr + 1] = (host >> 16) & 0xff;
  f[addr + 2] = (host >> 8) & 0xff;
  f[addr + 3] = host & 0xff;
  const ihl = (f[ip]! & 0x0f) * 4;
  f.writeUInt16BE(0, ip + 10);
  let sum = 0;
  for (let i = 0; i < ihl; i += 2) sum += f.readUInt16BE(ip + i);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  f.writeUInt16BE(~sum & 0xffff, ip + 10);
  return f;
}

function buildCapture(file: string, seed: SeedPacket[], targetBytes: number): number {
  const tmp = `${file}.tmp`;
  const fd = openSync(tmp, 'w', 0o600);
  const header = Buffer.alloc(24);
  header.writeUInt32LE(0xa1b23c4d, 0); // nanosecond pcap
  header.writeUInt16LE(2, 4);
  header.writeUInt16LE(4, 6);
  header.writeUInt32LE(262144, 16);
  header.writeUInt32LE(LINKTYPE_ETHERNET, 20);
  writeSync(fd, header);
  const span = seed[seed.length - 1]!.tsNs - seed[0]!.tsNs + 1_000_000n;
  let written = 24;
  let replicas = 0;
  const out: Buffer[] = [];
  let outBytes = 0;
  const flush = (): void => {
    writeSync(fd, Buffer.concat(out));
    out.length = 0;
    outBytes = 0;
  };
  while (written < targetBytes) {
    const group = Math.min(INTERLEAVE, 0xfffff0 - replicas);
    // Interleave `group` replicas packet by packet; each group starts after the previous one ended.
    for (let i = 0; i < seed.length; i++) {
      for (let g = 0; g < group; g++) {
        const p = seed[i]!;
        const frame = rewrite(p, replicas + g);
        const ts = p.tsNs + span * BigInt(Math.floor(replicas / INTERLEAVE)) + BigInt(g * 1000);
        const rec = Buffer.alloc(16);
        rec.writeUInt32LE(Number(ts / 1_000_000_000n), 0);
        rec.writeUInt32LE(Number(ts % 1_000_000_000n), 4);
        rec.writeUInt32LE(frame.length, 8);
        rec.writeUInt32LE(frame.length, 12);
        out.push(rec, frame);
        outBytes += 16 + frame.length;
        written += 16 + frame.length;
        if (outBytes > 8 << 20) flush();
      }
    }
    replicas += group;
  }
  flush();
  closeSync(fd);
  renameSync(tmp, file);
  return replicas;
}




async function main(): Promise<void> {
  const dir = path.join(cacheDir(), 'bench');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const seed = await buildSeed(dir);
  const cli = ourCli();
  // tcpdump drops packets under load now and then: a seed with holes would make every replica partial.
  const seedCheck = measure(cli.command, [...cli.args, 'analyze', seed.pcap, '--keylog', seed.keyLog, '--json']);
  const damaged = (JSON.parse(seedCheck.stdout) as { connections: Array<{ reason?: string }> }).connections.filter((c) => c.reason);
  if (damaged.length) {
    rmSync(seed.pcap);
    throw new Error(`the seed capture lost packets (${damaged.length} connection(s): ${damaged[0]!.reason}); it was deleted: run again`);
  }
  const capture = path.join(dir, `analyze-${sizeMb}mb.pcap`);
  if (!existsSync(capture)) {
    const packets = await readSeed(seed.pcap, seed.port);
    const replicas = buildCapture(capture, packets, sizeMb * 1024 * 1024);
    console.log(`built ${capture}: ${replicas} replicas of the seed session`);
  }
  const bytes = statSync(capture).size;
  console.log(`capture: ${(bytes / 1048576).toFixed(0)} MiB, key log ${seed.keyLog}`);

  const ours = measure(cli.command, [...cli.args, 'analyze', capture, '--keylog', seed.keyLog, '--json']);
  const report = JSON.parse(ours.stdout) as { connections: Array<{ decrypted: boolean }>; requests: Array<{ connectionId: number; streamId: number; method: string; path: string }> };
  const undecrypted = report.connections.filter((c) => !c.decrypted).length;
  console.log(`gokeylog: ${ours.seconds.toFixed(1)} s, ${(bytes / 1048576 / ours.seconds).toFixed(0)} MiB/s, peak RSS ${ours.peakRssMb.toFixed(0)} MB, ${report.connections.length} connections (${undecrypted} not decrypted), ${report.requests.length} requests`);
  if (skipTshark) return;

  const tshark = measure('tshark', ['-r', capture, '-n', '-o', `tls.keylog_file:${seed.keyLog}`, '-d', `tcp.port==${seed.port},tls`, '-Y', 'http2', '-T', 'fields',
    '-E', 'occurrence=a', '-E', 'aggregator=,', '-e', 'tcp.stream', '-e', 'http2.type', '-e', 'http2.streamid', '-e', 'http2.headers.method', '-e', 'http2.headers.path']);
  // One line per packet: its frames' types and stream ids; requests are the HEADERS frames (type 1) with a method.
  const theirs = new Set<string>();
  for (const line of tshark.stdout.split('\n')) {
    const [conn, types, ids, methods, paths] = line.split('\t');
    if (!methods) continue;
    const headerIds = ids!.split(',').filter((_, i) => types!.split(',')[i] === '1');
    const methodList = methods.split(',');
    const pathList = paths!.split(',');
    methodList.forEach((m, i) => theirs.add(`${conn} ${headerIds[i]} ${m} ${pathList[i]}`));
  }
  const ourKeys = new Set(report.requests.map((r) => `${r.connectionId - 1} ${r.streamId} ${r.method} ${r.path}`));
  const missing = [...theirs].filter((k) => !ourKeys.has(k));
  console.log(`tshark:   ${tshark.seconds.toFixed(1)} s, ${(bytes / 1048576 / tshark.seconds).toFixed(1)} MiB/s, peak RSS ${tshark.peakRssMb.toFixed(0)} MB, ${theirs.size} requests`);
  console.log(`ratio: gokeylog is ${(tshark.seconds / ours.seconds).toFixed(1)}× faster (goal ≥ 20×); found ${theirs.size - missing.length} of tshark's ${theirs.size} requests${missing.length ? ` (MISSING e.g. ${missing[0]})` : ''}; peak RSS ${ours.peakRssMb.toFixed(0)} MB (goal < 512 MB)`);
}

await main();
