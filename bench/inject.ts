/**
 * bench/inject: `gokeylog inject` against `editcap --inject-secrets` on the same ≥ 1 GB captures, in one run:
 * a pcapng (copied block for block) and a pcap (converted, as after tcpdump in the original write-up).
 * Prints both times, the ratio (goal ≤ 1.0: no slower than editcap) and the peak RSS of both (goal: flat).
 *
 *   node --import tsx bench/inject.ts [--size MB]        (root, once: the seed session is captured with tcpdump)
 *
 * The inputs are built once and cached under $GOKEYLOG_CACHE/bench/: a real session of the Go fixture server
 * and client (test/pcap/realTraffic.ts), replicated with a new client port (TCP checksum updated) and
 * shifted timestamps per replica by our pcapng writer; the pcap twin is converted from it by editcap.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, createWriteStream, existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import { PcapngWriter, forEachPacket } from '../src/pcap/index.js';
import { cacheDir } from '../src/util/cache.js';
import { measure, ourCli, type Measured } from './support.js';
import { mergedKeyLog, realTrafficUnavailable, recordTraffic } from '../test/pcap/realTraffic.js';
import { secretTempDir } from '../test/support/pki.js';

const args = process.argv.slice(2);
const sizeMb = Number(args[args.indexOf('--size') + 1] ?? 0) || 1024;
const RUNS = 2;

interface Seed {
  pcap: string;
  keyLog: string;
  port: number;
}

async function seedSession(dir: string): Promise<Seed> {
  const seed = { pcap: path.join(dir, 'inject-seed.pcap'), keyLog: path.join(dir, 'inject-seed.keylog'), port: 0 };
  const portFile = path.join(dir, 'inject-seed.port');
  if (existsSync(seed.pcap) && existsSync(seed.keyLog) && existsSync(portFile)) return { ...seed, port: Number(readFileSync(portFile, 'utf8')) };
  const why = realTrafficUnavailable();
  if (why) throw new Error(`cannot record the seed session: ${why}`);
  const traffic = await recordTraffic();
  copyFileSync(traffic.captures[0]!.file, seed.pcap); // tcpdump -i lo: Ethernet
  copyFileSync(await mergedKeyLog(traffic, secretTempDir('bench-inject')), seed.keyLog);
  writeSecret(portFile, String(traffic.port));
  return { ...seed, port: traffic.port };
}

function writeSecret(file: string, text: string): void {
  const out = createWriteStream(file, { mode: 0o600 });
  out.end(text);
}

/** Sets a TCP port field and updates the TCP checksum incrementally (RFC 1624). */
function setPort(frame: Buffer, portOffset: number, checksumOffset: number, port: number): void {
  const old = frame.readUInt16BE(portOffset);
  frame.writeUInt16BE(port, portOffset);
  let sum = (~frame.readUInt16BE(checksumOffset) & 0xffff) + (~old & 0xffff) + port;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  frame.writeUInt16BE(~sum & 0xffff, checksumOffset);
}

interface SeedPacket {
  frame: Buffer;
  timestampUnits: bigint;
  /** Where the client's port and the TCP checksum are, or -1 for a packet that is not IPv4/TCP. */
  clientPortOffset: number;
  checksumOffset: number;
}

async function readSeed(seed: Seed): Promise<SeedPacket[]> {
  const packets: SeedPacket[] = [];
  await forEachPacket(seed.pcap, (p) => {
    const frame = Buffer.from(p.data);
    let clientPortOffset = -1;
    let checksumOffset = -1;
    if (frame.length >= 54 && frame.readUInt16BE(12) === 0x0800 && frame[23] === 6) {
      const tcp = 14 + (frame[14]! & 0x0f) * 4;
      clientPortOffset = frame.readUInt16BE(tcp + 2) === seed.port ? tcp : tcp + 2;
      checksumOffset = tcp + 16;
    }
    // The seed is a nanosecond-free µs pcap: keep its units (if_tsresol 10^-6 in the output).
    packets.push({ frame, timestampUnits: p.timestampUnits, clientPortOffset, checksumOffset });
  });
  return packets;
}

async function buildPcapng(file: string, seed: SeedPacket[], targetBytes: number): Promise<number> {
  const tmp = `${file}.tmp`;
  const out = createWriteStream(tmp, { mode: 0o600, highWaterMark: 4 << 20 });
  const writer = new PcapngWriter(out);
  writer.writeSectionHeader({ userAppl: 'gokeylog bench/inject' });
  writer.writeInterface({ linkType: 1, snapLength: 262144, name: 'lo' });
  const span = seed[seed.length - 1]!.timestampUnits - seed[0]!.timestampUnits + 1000n;
  let replicas = 0;
  while (writer.bytesWritten < targetBytes) {
    const port = 10_000 + (replicas % 50_000);
    const shift = span * BigInt(replicas);
    for (const p of seed) {
      if (p.clientPortOffset >= 0) setPort(p.frame, p.clientPortOffset, p.checksumOffset, port);
      writer.writePacket({ interfaceId: 0, timestampUnits: p.timestampUnits + shift, data: p.frame });
    }
    replicas++;
    if (replicas % 64 === 0) await writer.drain();
  }
  await writer.end();
  renameSync(tmp, file);
  return replicas;
}




function packetsIn(file: string): number {
  const run = spawnSync('capinfos', ['-c', '-M', '-T', '-r', file], { encoding: 'utf8' });
  return Number(run.stdout.trim().split('\t').pop());
}

function compare(label: string, input: string, keyLog: string, dir: string): void {
  const mib = statSync(input).size / 2 ** 20;
  const oursOut = path.join(dir, 'inject-out-gokeylog.pcapng');
  const editcapOut = path.join(dir, 'inject-out-editcap.pcapng');
  let ours: Measured | undefined;
  let editcap: Measured | undefined;
  let packets = 0;
  try {
    const cli = ourCli();
    for (let run = 0; run < RUNS; run++) {
      // Alternate the two so that neither always meets a cold page cache.
      const e = measure('editcap', ['--inject-secrets', `tls,${keyLog}`, input, editcapOut]);
      const o = measure(cli.command, [...cli.args, 'inject', '--keylog', keyLog, input, '-o', oursOut, '--json']);
      packets = (JSON.parse(o.stdout) as { packets: number }).packets;
      if (!editcap || e.seconds < editcap.seconds) editcap = e;
      if (!ours || o.seconds < ours.seconds) ours = o;
    }
    const theirPackets = packetsIn(editcapOut);
    console.log(`${label}: ${mib.toFixed(0)} MiB, ${packets} packets${packets === theirPackets ? '' : ` (editcap wrote ${theirPackets}: MISMATCH)`}`);
    console.log(`  gokeylog inject: ${ours!.seconds.toFixed(2)} s (${(mib / ours!.seconds).toFixed(0)} MiB/s), peak RSS ${ours!.peakRssMb.toFixed(0)} MB`);
    console.log(`  editcap:         ${editcap!.seconds.toFixed(2)} s (${(mib / editcap!.seconds).toFixed(0)} MiB/s), peak RSS ${editcap!.peakRssMb.toFixed(0)} MB`);
    console.log(`  ratio gokeylog/editcap: ${(ours!.seconds / editcap!.seconds).toFixed(2)} (goal ≤ 1.0), best of ${RUNS}`);
  } finally {
    rmSync(oursOut, { force: true });
    rmSync(editcapOut, { force: true });
  }
}

async function main(): Promise<void> {
  const dir = path.join(cacheDir(), 'bench');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const seed = await seedSession(dir);
  const pcapng = path.join(dir, `inject-${sizeMb}mb.pcapng`);
  if (!existsSync(pcapng)) {
    const replicas = await buildPcapng(pcapng, await readSeed(seed), sizeMb * 2 ** 20);
    console.log(`built ${pcapng}: ${replicas} replicas of the seed session`);
  }
  const pcap = path.join(dir, `inject-${sizeMb}mb.pcap`);
  if (!existsSync(pcap)) {
    const run = spawnSync('editcap', ['-F', 'pcap', pcapng, `${pcap}.tmp`], { encoding: 'utf8' });
    if (run.status !== 0) throw new Error(`editcap -F pcap failed: ${run.stderr}`);
    renameSync(`${pcap}.tmp`, pcap);
  }
  compare('pcapng input', pcapng, seed.keyLog, dir);
  compare('pcap input', pcap, seed.keyLog, dir);
}

await main();
