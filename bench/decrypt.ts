/**
 * bench/decrypt: the decryption engine alone (link/IP/TCP decoding, reassembly, TLS record decryption of
 * every connection) against tshark decrypting the same capture with the same key log, in the same run.
 *
 *   node --import tsx bench/decrypt.ts [--skip-tshark] [CAPTURE KEYLOG]
 *
 * Without arguments it uses the capture bench/analyze built under $GOKEYLOG_CACHE/bench/ (run that first).
 * Prints both times, the ratio, the plaintext bytes we decrypted and our peak RSS.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { KeyLog, parseKeyLog } from '../src/keylog/index.js';
import { PacketPipeline, tlsConnectionFor } from '../src/analyze/index.js';
import { forEachPacket } from '../src/pcap/index.js';
import type { TlsFailureReason } from '../src/tls/index.js';
import { cacheDir } from '../src/util/cache.js';
import { measure } from './support.js';

function defaultInput(): [string, string] {
  const dir = path.join(cacheDir(), 'bench');
  const captures = existsSync(dir) ? readdirSync(dir).filter((f) => /^analyze-\d+mb\.pcap$/.test(f)) : [];
  const largest = captures.sort((a, b) => statSync(path.join(dir, b)).size - statSync(path.join(dir, a)).size)[0];
  if (!largest) throw new Error(`no capture under ${dir}: run bench/analyze first, or pass CAPTURE KEYLOG`);
  return [path.join(dir, largest), path.join(dir, largest.replace(/\.pcap$/, '.keylog'))];
}

async function ours(capture: string, keys: KeyLog) {
  let plaintext = 0;
  let connections = 0;
  const reasons = new Map<TlsFailureReason | null, number>();
  // analyze's own packet path and TLS, without the HTTP decoding above them.
  const pipeline = new PacketPipeline((info, sessions) => {
    connections++;
    return tlsConnectionFor(info, keys, sessions, {
      onApplicationData: (_direction, data) => (plaintext += data.length),
      onEnd: (result) => reasons.set(result.reason, (reasons.get(result.reason) ?? 0) + 1),
    });
  });
  let peakRss = 0;
  let packets = 0;
  const start = process.hrtime.bigint();
  await forEachPacket(capture, (packet) => {
    pipeline.push(packet.linkType, packet.data, packet.timestamp);
    if ((++packets & 0xffff) === 0) peakRss = Math.max(peakRss, process.memoryUsage.rss());
  });
  pipeline.finish();
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  return { seconds, plaintext, connections, reasons, peakRss: Math.max(peakRss, process.memoryUsage.rss()) };
}

function tshark(capture: string, keyLog: string): number {
  // Decrypting needs the records dissected: every TLS record's (inner) content type forces that.
  return measure('tshark', ['-n', '-r', capture, '-o', `tls.keylog_file:${keyLog}`, '-Y', 'tls', '-T', 'fields', '-e', 'tls.record.content_type']).seconds;
}

const args = process.argv.slice(2).filter((a) => a !== '--skip-tshark');
const skipTshark = process.argv.includes('--skip-tshark');
const [capture, keyLogFile] = args.length >= 2 ? [args[0]!, args[1]!] : defaultInput();
const keys = new KeyLog();
for (const entry of parseKeyLog(readFileSync(keyLogFile, 'utf8')).entries) keys.add(entry);
const sizeMb = statSync(capture).size / 1e6;
console.log(`capture ${capture} (${sizeMb.toFixed(0)} MB), keys ${keyLogFile}`);
const result = await ours(capture, keys);
console.log(
  `gokeylog net+tls: ${result.seconds.toFixed(2)} s (${(sizeMb / result.seconds).toFixed(0)} MB/s), ${result.connections} connections, ` +
    `${(result.plaintext / 1e6).toFixed(0)} MB decrypted, reasons ${JSON.stringify(Object.fromEntries(result.reasons))}, peak RSS ${(result.peakRss / 1e6).toFixed(0)} MB`,
);
if (skipTshark) process.exit(0);
const peer = tshark(capture, keyLogFile);
console.log(`tshark -Y tls:    ${peer.toFixed(2)} s`);
console.log(`ratio: ${(peer / result.seconds).toFixed(1)}× faster than tshark`);
