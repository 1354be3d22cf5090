/**
 * The analysis pipeline: captures (pcap/pcapng, read in order as one stream of packets) + keys (key log
 * files and the captures' own Decryption Secrets Blocks) → connections and requests.
 * Memory stays flat: packets are visited in place, bodies are counted, not kept (unless asked), and
 * requests need not be retained when they are streamed out.
 */
import { stat } from 'node:fs/promises';
import { readCaptureBatches, SECRETS_TYPE_TLS_KEY_LOG } from '../pcap/index.js';
import { decodePacket, IpFragments, TcpReassembler } from '../net/index.js';
import { Tls12SessionCache, tlsHelloSender } from '../tls/index.js';
import { parseKeyLog, type KeyLog } from '../keylog/index.js';
import { IdentityCalls, type AnalyzedConnection, type AnalyzedRequest } from '../report/index.js';
import { AnalyzedTcpConnection } from './connection.js';

export interface AnalyzeOptions {
  captures: string[];
  /** Keys from key log files; secrets found in the captures are added to it. */
  keyLog: KeyLog;
  bodies?: boolean;
  /** Keep every request for the result (default true); false keeps memory flat for streamed output. */
  retainRequests?: boolean;
  /** Each request as it completes (NDJSON streaming). */
  onRequest?: (request: AnalyzedRequest) => void;
  /** Bytes read over all captures so far, and their total size when known. */
  onProgress?: (bytesRead: number, totalBytes: number | undefined) => void;
  onWarning?: (message: string) => void;
}

export interface AnalysisResult {
  /** In order of first appearance. */
  connections: AnalyzedConnection[];
  /** In order of completion; empty unless `retainRequests`. */
  requests: AnalyzedRequest[];
  /** Every request counted for its identity, retained or not. */
  identityCalls: IdentityCalls;
  /** Capture time of the last packet (ms since the epoch), null for an empty capture. */
  lastPacketTimeMs: number | null;
  /** Key log entries found in the captures' DSBs. */
  embeddedKeys: number;
}

export async function analyzeCaptures(options: AnalyzeOptions): Promise<AnalysisResult> {
  // Only the report side of each connection is kept: TLS and HTTP state go once the connection ends.
  const connections: AnalyzedConnection[] = [];
  const requests: AnalyzedRequest[] = [];
  const identityCalls = new IdentityCalls();
  const retain = options.retainRequests ?? true;
  const callbacks = {
    bodies: options.bodies ?? false,
    onRequest: (r: AnalyzedRequest) => {
      identityCalls.add(r);
      if (retain) requests.push(r);
      options.onRequest?.(r);
    },
  };
  // Per run, as the captures are one stream: fragments and resumed TLS 1.2 sessions may span files.
  const fragments = new IpFragments();
  const sessions = new Tls12SessionCache();
  const reassembler = new TcpReassembler({
    onConnection: (info) => {
      const c = new AnalyzedTcpConnection(info, options.keyLog, sessions, callbacks);
      connections.push(c.connection);
      return c;
    },
  }, { senderHeuristics: [tlsHelloSender] });

  const sizes = await Promise.all(options.captures.map((p) => (p === '-' ? undefined : stat(p).then((s) => s.size, () => undefined))));
  const total = sizes.every((s) => s !== undefined) ? sizes.reduce<number>((a, b) => a + b!, 0) : undefined;
  let doneBefore = 0;
  let lastNs: bigint | null = null;
  let embeddedKeys = 0;

  for (const [i, capture] of options.captures.entries()) {
    const batches = readCaptureBatches(capture, {
      onWarning: options.onWarning,
      onProgress: (read) => options.onProgress?.(doneBefore + read, total),
    });
    for await (const batch of batches) {
      for (const block of batch) {
        if (block.kind === 'packet') {
          const segment = decodePacket(block.linkType, block.data, fragments);
          const ts = block.timestamp;
          lastNs = ts;
          if (segment) reassembler.push(segment, ts);
        } else if (block.kind === 'secrets' && block.secretsType === SECRETS_TYPE_TLS_KEY_LOG) {
          const { entries, midstream, errors } = parseKeyLog(Buffer.from(block.data).toString('utf8'));
          for (const e of entries) if (options.keyLog.add(e)) embeddedKeys += 1;
          for (const s of midstream) if (options.keyLog.addMidstream(s)) embeddedKeys += 1;
          if (errors.length) options.onWarning?.(`${capture}: ${errors.length} bad line(s) in an embedded key log`);
        }
      }
    }
    doneBefore += sizes[i] ?? 0;
  }
  reassembler.finish();
  return {
    connections,
    requests,
    identityCalls,
    lastPacketTimeMs: lastNs === null ? null : Number(lastNs / 1_000_000n),
    embeddedKeys,
  };
}
