/**
 * The analysis pipeline: captures (pcap/pcapng, read in order as one stream of packets) + keys (key log
 * files and the captures' own Decryption Secrets Blocks) → connections and requests.
 * Memory stays flat: packets are visited in place, bodies are counted, not kept (unless asked), and
 * requests need not be retained when they are streamed out.
 */
import { createHash } from 'node:crypto';
import { open, stat } from 'node:fs/promises';
import path from 'node:path';
import { commentsOf, readCaptureBatches, SECRETS_TYPE_TLS_KEY_LOG, type CaptureBlock, type PacketBlock, type SectionBlock } from '../pcap/index.js';
import { parseKeyLog, type KeyLog } from '../keylog/index.js';
import { IdentityTally, tallyRequest, type AnalyzedConnection, type AnalyzedRequest } from '../report/index.js';
import { AnalyzedTcpConnection } from './connection.js';
import { BodyBudget } from '../http/index.js';
import type { LiveConnections } from './liveConns.js';
import { PacketPipeline } from './packets.js';

export interface AnalyzeOptions {
  captures: string[];
  /**
   * The node each capture was taken on, by position (`--label`); a capture without one is named by the
   * `node=NAME` comment gokeylog capture writes into its section header, else by its file name.
   */
  labels?: (string | undefined)[];
  /** Keys from key log files; secrets found in the captures are added to it. */
  keyLog: KeyLog;
  /** Identities from the live process (`gokeylog conns --json`), for connections whose handshake is not captured. */
  live?: LiveConnections;
  bodies?: boolean;
  /** Keep every request for the result (default true); false keeps memory flat for streamed output. */
  retainRequests?: boolean;
  /**
   * Whether a completed request belongs in the result (filters); told its connection and the capture time of the
   * first packet (see firstPacketTimeSeconds), which expiry is measured from. Refused requests are not counted anywhere.
   */
  acceptRequest?: (request: AnalyzedRequest, connection: AnalyzedConnection, firstPacketTimeSeconds: number) => boolean;
  /** Each request as it completes (NDJSON streaming). */
  onRequest?: (request: AnalyzedRequest) => void;
  /** Bytes read over all captures so far, their total size when known, and what was found so far (gaps: holes in TCP streams). */
  onProgress?: (bytesRead: number, totalBytes: number | undefined, counts: { packets: number; connections: number; identities: number; gaps: number }) => void;
  onWarning?: (message: string) => void;
  /** A capture cut short is an error (exit 3) instead of being read up to the cut with a warning. */
  strict?: boolean;
  /** Asked between batches: true stops reading (Ctrl-C); what was read is analysed. */
  shouldStop?: () => boolean;
  /** Awaited between batches: lets a slow reader of streamed output hold the analysis back. */
  pause?: () => Promise<void>;
}

/** A capture time (bigint ns) as the report's seconds, cut to the ms it falls in. */
const firstPacketTimeSeconds = (ns: bigint): number => Number(ns / 1_000_000n) / 1000;

export interface AnalysisResult {
  /** In order of first appearance. */
  connections: AnalyzedConnection[];
  /** In order of completion; empty unless `retainRequests`. */
  requests: AnalyzedRequest[];
  /** Every accepted request counted for its identity, retained or not. */
  identities: IdentityTally;
  /**
   * Capture time of the first packet of the first capture, to the ms (expiry is measured from it, in the clock's
   * unit: see ExpiryWindow); null for an empty capture.
   */
  firstPacketTimeSeconds: number | null;
  /** Reading stopped early because `shouldStop` said so. */
  stopped: boolean;
  /** Key log entries found in the captures' DSBs. */
  embeddedKeys: number;
}

export async function analyzeCaptures(options: AnalyzeOptions): Promise<AnalysisResult> {
  // Only the report side of each connection is kept: TLS and HTTP state go once the connection ends.
  const connections: AnalyzedConnection[] = [];
  const requests: AnalyzedRequest[] = [];
  const identities = new IdentityTally();
  const retain = options.retainRequests ?? true;
  let firstNs: bigint | null = null;
  let gaps = 0;
  const callbacks = {
    bodies: options.bodies ?? false,
    bodyBudget: new BodyBudget(),
    live: options.live,
    credentials: new Map(),
    onGap: () => void (gaps += 1),
    onRequest: (r: AnalyzedRequest, c: AnalyzedConnection) => {
      // A client sends its first request with its Finished (TLS 1.3); the server that refused its certificate
      // never read it. Such requests end unanswered with the connection, when the refusal is known.
      if (c.rejected) return;
      if (options.acceptRequest && !options.acceptRequest(r, c, firstPacketTimeSeconds(firstNs!))) return;
      tallyRequest(identities, r, c.client.ip);
      if (retain) requests.push(r);
      options.onRequest?.(r);
    },
  };
  // The node whose capture the packet being pushed came from: a connection it opens starts there.
  let current = '';
  const pipeline = new PacketPipeline((info, sessions) => {
    const c = new AnalyzedTcpConnection(info, options.keyLog, sessions, callbacks, current);
    connections.push(c.connection);
    return c;
  });

  const inputs = await distinctInputs(options.captures, options.labels ?? [], options.onWarning);
  const sizes = await Promise.all(inputs.map(({ name }) => (name === '-' ? undefined : stat(name).then((s) => s.size, () => undefined))));
  const total = sizes.every((s) => s !== undefined) ? sizes.reduce<number>((a, b) => a + b!, 0) : undefined;
  let embeddedKeys = 0;

  let stopped = false;
  let packets = 0;
  const visit = (block: CaptureBlock, input: CaptureInput): void => {
    if (block.kind === 'packet') {
      packets += 1;
      const ts = block.timestamp;
      firstNs ??= ts;
      current = input.label;
      const consumer = pipeline.push(block.linkType, block.data, ts);
      if (consumer instanceof AnalyzedTcpConnection) consumer.seenOn(input.label);
    } else if (block.kind === 'section') {
      const node = nodeOfSection(block);
      if (node !== undefined && !input.explicitLabel) input.label = node;
    } else if (block.kind === 'secrets' && block.secretsType === SECRETS_TYPE_TLS_KEY_LOG) {
      // The packets before the secrets are decrypted without them, as if they had been handed on at once.
      pipeline.flush();
      const { entries, midstream, errors } = parseKeyLog(Buffer.from(block.data).toString('utf8'));
      for (const e of entries) if (options.keyLog.add(e)) embeddedKeys += 1;
      for (const s of midstream) if (options.keyLog.addMidstream(s)) embeddedKeys += 1;
      if (errors.length) options.onWarning?.(`${input.name}: ${errors.length} bad line(s) in an embedded key log`);
    }
  };
  const readSoFar = inputs.map(() => 0);
  const batchesOf = (i: number): AsyncGenerator<CaptureBlock[]> => {
    const { name } = inputs[i]!;
    const shown = name === '-' ? 'standard input' : name;
    return readCaptureBatches(name, {
      onWarning: options.onWarning,
      onProgress: (read) => {
        readSoFar[i] = read;
        options.onProgress?.(readSoFar.reduce((x, y) => x + y, 0), total, { packets, connections: connections.length, identities: identities.size, gaps });
      },
      // As tshark does: what precedes the cut is read, the cut is named.
      onTruncatedEnd: options.strict
        ? undefined
        : (left, offset) => options.onWarning?.(`${shown} is cut short at byte offset ${offset} (an incomplete ${left}-byte block): analysed up to there`),
    });
  };
  const shouldStop = (): boolean => (stopped ||= options.shouldStop?.() ?? false);
  // Read from a stream (a live capture), what the packets so far give is handed on before every wait, so that
  // requests show as they come; files are handed on in the pipeline's larger batches, which open faster.
  const live = inputs.some(({ name }) => name === '-');
  const pause = async (): Promise<void> => {
    if (live) pipeline.flush();
    await options.pause?.();
  };
  try {
    if (inputs.length === 1) {
      for await (const batch of batchesOf(0)) {
        await pause();
        if (shouldStop()) break;
        for (const block of batch) visit(block, inputs[0]!);
      }
    } else if (inputs.length > 1) {
      await mergeByTime(inputs.map((input, i) => ({ input, batches: batchesOf(i) })), visit, shouldStop, pause);
    }
  } catch (err) {
    pipeline.flush(); // what was read before the error, as the report of a capture cut short has it
    // Stopping a stream that gives nothing (a second Ctrl-C on `analyze -`) closes it under the reader.
    if (!options.shouldStop?.()) throw err;
    stopped = true;
  }
  pipeline.finish();
  return {
    connections,
    requests,
    identities,
    stopped,
    firstPacketTimeSeconds: firstNs === null ? null : firstPacketTimeSeconds(firstNs),
    embeddedKeys,
  };
}

/**
 * The captures without repeats, each with its node label: the same file given twice (by any path, or a copy
 * of it) would replay every connection into itself. Files are the same when they are one inode, or have one
 * size and the same first and last MiB.
 */
async function distinctInputs(captures: string[], labels: (string | undefined)[], onWarning?: (message: string) => void): Promise<CaptureInput[]> {
  const seen = new Map<string, string>();
  const out: CaptureInput[] = [];
  for (const [i, capture] of captures.entries()) {
    const id = capture === '-' ? null : await fileIdentity(capture);
    const earlier = id === null ? undefined : (seen.get(id.inode) ?? seen.get(id.content));
    if (earlier !== undefined) {
      onWarning?.(`${capture} is the same capture as ${earlier}: read once`);
      continue;
    }
    if (id) {
      seen.set(id.inode, capture);
      seen.set(id.content, capture);
    }
    const label = labels[i];
    out.push({ name: capture, label: label ?? labelOfFile(capture), explicitLabel: label !== undefined });
  }
  return out;
}

const EDGE = 1 << 20;

async function fileIdentity(file: string): Promise<{ inode: string; content: string } | null> {
  let fh;
  try {
    fh = await open(file, 'r');
  } catch {
    return null; // the reader reports it
  }
  try {
    const st = await fh.stat();
    if (!st.isFile()) return null;
    const hash = createHash('sha256').update(String(st.size));
    const whole = st.size <= 2 * EDGE;
    const buf = Buffer.alloc(whole ? st.size : EDGE);
    for (const at of whole ? [0] : [0, st.size - EDGE]) {
      const { bytesRead } = await fh.read(buf, 0, buf.length, at);
      hash.update(buf.subarray(0, bytesRead));
    }
    return { inode: `${st.dev}:${st.ino}`, content: hash.digest('hex') };
  } finally {
    await fh.close();
  }
}

interface CaptureInput {
  name: string;
  /** The node it was captured on (see AnalyzeOptions.labels). */
  label: string;
  explicitLabel: boolean;
}

/** `node1.pcapng` → `node1`; `-` (standard input) → `stdin`. */
function labelOfFile(file: string): string {
  if (file === '-') return 'stdin';
  return path.basename(file).replace(/(\.(pcapng|pcap|cap|gz))+$/i, '') || file;
}

/** The `node=NAME` comment `gokeylog capture` writes into each section header it starts. */
function nodeOfSection(block: SectionBlock): string | undefined {
  for (const comment of commentsOf(block.options) ?? []) {
    const m = /^node=(\S+)$/.exec(comment);
    if (m) return m[1];
  }
  return undefined;
}

interface MergeSource {
  input: CaptureInput;
  batches: AsyncGenerator<CaptureBlock[]>;
}

/**
 * Captures of several nodes as one capture: their packets in time order (a k-way merge holding one batch per
 * input), so that a connection seen on two nodes reaches the reassembler once, its second copy as
 * retransmissions. Blocks that are not packets are visited as soon as they are reached.
 */
async function mergeByTime(
  sources: MergeSource[],
  visit: (block: CaptureBlock, input: CaptureInput) => void,
  shouldStop: () => boolean,
  pause?: () => Promise<void>,
): Promise<void> {
  const heads = sources.map((s) => ({ ...s, batch: [] as CaptureBlock[], at: 0, done: false }));
  // Fill a head up to its next packet (visiting what comes before it); false when its input is exhausted.
  const ready = async (h: (typeof heads)[number]): Promise<boolean> => {
    for (;;) {
      while (h.at < h.batch.length) {
        const block = h.batch[h.at]!;
        if (block.kind === 'packet') return true;
        visit(block, h.input);
        h.at += 1;
      }
      await pause?.();
      if (shouldStop()) return false;
      const next = await h.batches.next();
      if (next.done) return false;
      h.batch = next.value;
      h.at = 0;
    }
  };
  type Head = (typeof heads)[number];
  let live: Head[] = [];
  for (const h of heads) if (await ready(h)) live.push(h);
  try {
    while (live.length > 0) {
      // The input with the earliest packet, and the time of the next one elsewhere: the earliest input's packets
      // up to that time go in one run (captures of rotated files or distinct windows barely interleave).
      let earliest = live[0]!;
      let earliestTs = (earliest.batch[earliest.at] as PacketBlock).timestamp;
      let nextTs: bigint | undefined;
      for (let i = 1; i < live.length; i++) {
        const ts = (live[i]!.batch[live[i]!.at] as PacketBlock).timestamp;
        if (ts < earliestTs) {
          nextTs = earliestTs;
          earliest = live[i]!;
          earliestTs = ts;
        } else if (nextTs === undefined || ts < nextTs) {
          nextTs = ts;
        }
      }
      const { batch } = earliest;
      let block: CaptureBlock | undefined = batch[earliest.at];
      do {
        visit(block!, earliest.input);
        block = batch[++earliest.at];
      } while (block?.kind === 'packet' && (nextTs === undefined || block.timestamp <= nextTs));
      // An await per packet would cost more than the merge itself: only at the end of a batch or a non-packet.
      if (block?.kind !== 'packet' && !(await ready(earliest))) live = live.filter((h) => h !== earliest);
    }
  } finally {
    for (const h of heads) await h.batches.return(undefined);
  }
}
