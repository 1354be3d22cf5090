/**
 * bench/capture: can `gokeylog capture` keep up with tcpdump? The part of capture that is ours — the live pcap
 * reader, per-packet connection facts, the secrets orderer (packets held until their keys come) and the pcapng
 * writer — against the peers on the same input, in one run: `tcpdump -r IN -w OUT` (tcpdump copying pcap, the
 * floor) and `editcap --inject-secrets` (what the original write-up ran afterwards). Prints MB/s and ratios
 * (goal: ratio to editcap ≤ 1.0, i.e. the live path costs no more than the offline injection did).
 *
 *   node --import tsx bench/capture.ts [--size MB]
 *
 * Input: the capture bench/analyze builds and caches (`node --import tsx bench/analyze.ts --size MB --skip-tshark`):
 * real Go fixture HTTP/2 over TLS 1.3 replicated, with the seed's key log. Keys are handed to the orderer only
 * after the first chunk of packets, so the holding path is exercised too.
 */
import { spawnSync } from 'node:child_process';
import { createReadStream, createWriteStream, existsSync, readFileSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import { packetFacts, SecretsOrderer, type OrderedBlock, type OrderedKey } from '../src/capture/index.js';
import { PcapngWriter, readCaptureBatches, type PacketBlock } from '../src/pcap/index.js';
import { cacheDir } from '../src/util/cache.js';
import { secretTempDir } from '../test/support/pki.js';

const args = process.argv.slice(2);
const sizeMb = Number(args[args.indexOf('--size') + 1] ?? 0) || 200;
/** Rounds, each tool once per round in turn; the best time of each counts (the machine is shared). */
const ROUNDS = 3;

/** Reads `input` as a pipe delivers it (64 KiB chunks) and writes the ordered pcapng to `output`. */
async function ours(input: string, keys: OrderedKey[], output: string): Promise<{ packets: number; held: number }> {
  const orderer = new SecretsOrderer<PacketBlock>({ holdMs: 2000, maxHeldBytes: 64 << 20 });
  const writer = new PcapngWriter(createWriteStream(output), { name: output });
  writer.writeSectionHeader({ userAppl: 'gokeylog bench/capture' });
  const emit = (blocks: OrderedBlock<PacketBlock>[]): void => {
    for (const b of blocks) {
      if (b.kind === 'secrets') writer.writeSecrets(Buffer.from(b.keyLog, 'utf8'));
      else writer.writePacket({ interfaceId: b.packet.interfaceId, timestampUnits: b.packet.timestampUnits, data: b.packet.data, originalLength: b.packet.originalLength });
    }
  };
  let keysGiven = false;
  for await (const batch of readCaptureBatches(createReadStream(input, { highWaterMark: 64 * 1024 }), { sourceName: input })) {
    const now = performance.now();
    for (const block of batch) {
      if (block.kind === 'interface') writer.writeInterface({ linkType: block.linkType, snapLength: block.snapLength, tsResolution: block.tsResolution });
      else if (block.kind === 'packet') emit(orderer.addPacket(packetFacts(block.linkType, block.data), block, now));
    }
    if (!keysGiven) {
      emit(orderer.addKeys(keys, now));
      keysGiven = true;
    }
    await writer.drain();
  }
  emit(orderer.finish());
  await writer.end();
  return { packets: orderer.stats.packets, held: orderer.stats.packetsHeld };
}

function timed<T>(run: () => T): { result: T; seconds: number } {
  const start = performance.now();
  const result = run();
  return { result, seconds: (performance.now() - start) / 1000 };
}

async function timedAsync<T>(run: () => Promise<T>): Promise<{ result: T; seconds: number }> {
  const start = performance.now();
  const result = await run();
  return { result, seconds: (performance.now() - start) / 1000 };
}

function runPeer(command: string, argv: string[]): void {
  const r = spawnSync(command, argv, { stdio: ['ignore', 'ignore', 'pipe'] });
  if (r.status !== 0) throw new Error(`${command} failed: ${r.stderr?.toString().trim()}`);
}

async function main(): Promise<void> {
  const dir = path.join(cacheDir(), 'bench');
  const input = path.join(dir, `analyze-${sizeMb}mb.pcap`);
  const keyLog = input.replace(/\.pcap$/, '.keylog');
  if (!existsSync(input) || !existsSync(keyLog)) {
    console.error(`bench/capture: ${input} is missing: build it with node --import tsx bench/analyze.ts --size ${sizeMb} --skip-tshark`);
    process.exitCode = 1;
    return;
  }
  const keys: OrderedKey[] = readFileSync(keyLog, 'utf8').split('\n').filter((l) => /^\S+ [0-9a-f]{64} [0-9a-f]+$/.test(l))
    .map((line) => ({ label: line.split(' ')[0]!, clientRandom: line.split(' ')[1]!, line }));
  const out = secretTempDir('bench-capture');
  const mb = statSync(input).size / 1e6;
  try {
    const best = { ours: Infinity, tcpdump: Infinity, editcap: Infinity };
    let counts = { packets: 0, held: 0 };
    for (let round = 0; round < ROUNDS; round++) {
      const mine = await timedAsync(() => ours(input, keys, path.join(out, 'ours.pcapng')));
      counts = mine.result;
      best.ours = Math.min(best.ours, mine.seconds);
      best.tcpdump = Math.min(best.tcpdump, timed(() => runPeer('tcpdump', ['-r', input, '-w', path.join(out, 'tcpdump.pcap')])).seconds);
      best.editcap = Math.min(best.editcap, timed(() => runPeer('editcap', ['--inject-secrets', `tls,${keyLog}`, input, path.join(out, 'editcap.pcapng')])).seconds);
    }
    const rate = (s: number): string => `${(mb / s).toFixed(0)} MB/s`;
    console.log(`input: ${mb.toFixed(0)} MB, ${counts.packets} packets (${counts.held} held for keys); best of ${ROUNDS} rounds`);
    console.log(`gokeylog capture pipeline: ${best.ours.toFixed(2)} s (${rate(best.ours)})`);
    console.log(`tcpdump -r -w:             ${best.tcpdump.toFixed(2)} s (${rate(best.tcpdump)})`);
    console.log(`editcap --inject-secrets:  ${best.editcap.toFixed(2)} s (${rate(best.editcap)})`);
    console.log(`ratio ours/editcap: ${(best.ours / best.editcap).toFixed(2)} (goal ≤ 1.0); ours/tcpdump: ${(best.ours / best.tcpdump).toFixed(2)}`);
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}

await main();
