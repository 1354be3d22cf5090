/**
 * `gokeylog analyze` as a feature: key log files + captures → the pipeline (analyze.ts) → the report
 * (src/report), written to an output stream as text, JSON or NDJSON, and optionally as an HTML file.
 * The CLI parses the arguments and owns the terminal (progress, warnings, colour); this module owns what
 * is written and in which order.
 */
import { closeSync, writeFileSync } from 'node:fs';
import { KeyLog, readKeyLogFiles } from '../keylog/index.js';
import {
  buildReport, connectionJson, Filter, renderDelimitedReport, renderHtml, renderText, reportJson, reportJsonWithoutRequests, requestJson,
  type Report, type ReportFilter,
} from '../report/index.js';
import { ExitCode, GokeylogError } from '../util/errors.js';
import { SecretOutput } from '../util/secretFile.js';
import { analyzeCaptures } from './analyze.js';
import { readConnsFiles } from './liveConns.js';

export type AnalyzeFormat = 'text' | 'wide' | 'json' | 'ndjson' | 'tsv' | 'csv';

export interface RunAnalyzeOptions {
  captures: string[];
  keyLogFiles: string[];
  /** `gokeylog conns --json` outputs: identities of connections whose handshake the capture lacks. */
  connsFiles?: string[];
  format: AnalyzeFormat;
  /** Also write a self-contained HTML report to this file. */
  html?: string;
  expiringWithinDays: number;
  /** Measure expiry from the first capture's first packet, from the clock, or from a given time (ms since the epoch). */
  expiryFrom: 'capture' | 'now' | number;
  /** Include response bodies (gzip decoded) in JSON output. */
  bodies: boolean;
  /** Colour the text report. */
  color: boolean;
  /** Fit text tables to this width (a terminal's); undefined = plain columns, nothing cut. */
  width?: number;
  /** Header lines in text, TSV and CSV tables. */
  headers?: boolean;
  /** The requests / connections tables in text output (TSV/CSV: print that table instead of identities). */
  requests?: boolean;
  connections?: boolean;
  filter?: ReportFilter;
  /** A capture cut short is an error instead of a warning. */
  strict?: boolean;
}

export interface AnalyzeStatus {
  bytesRead: number;
  totalBytes: number | undefined;
  packets: number;
  connections: number;
  requests: number;
  identities: number;
}

export interface RunAnalyzeIo {
  /** Where the report goes (standard output). A reader that goes away (EPIPE) ends the run quietly. */
  output: NodeJS.WritableStream;
  onWarning(message: string): void;
  /** How far the run is, after every chunk read. */
  onProgress?(status: AnalyzeStatus): void;
  /** Every capture is read: progress is over, the report follows. */
  onCapturesRead?(): void;
  /** Asked between chunks: true stops reading (Ctrl-C) and reports what was read. */
  shouldStop?(): boolean;
}

/** Output is written in pieces of about this many characters at most (see `out`). */
const OUTPUT_BATCH_CHARS = 1 << 16;

export interface RunAnalyzeResult {
  /** Credentials (and server certificates) that are expired or expire within the window: --fail-on-expiry. */
  expiring: number;
  /** Reading was stopped before the end of the input. */
  stopped: boolean;
}

const DAY_MS = 86_400_000;

export async function runAnalyze(options: RunAnalyzeOptions, io: RunAnalyzeIo): Promise<RunAnalyzeResult> {
  const warn = io.onWarning;
  const keyLog = options.keyLogFiles.length ? await readKeyLogFiles(options.keyLogFiles, { onWarning: warn }) : new KeyLog();
  const live = options.connsFiles?.length ? await readConnsFiles(options.connsFiles) : undefined;
  let requests = 0;
  // A reader that stops early (`| head`) closes the pipe: stop analysing quietly, as Unix tools do.
  let outputError: NodeJS.ErrnoException | undefined;
  const onOutputError = (err: NodeJS.ErrnoException): void => void (outputError ??= err);
  io.output.on('error', onOutputError);
  // One write per turn of the event loop (a batch of packets) or per 64 KiB, not one per request: on a large
  // capture the writes of single requests cost more than building them. Still streamed as the capture is read.
  let pending = '';
  let flushScheduled = false;
  const flush = (): void => {
    flushScheduled = false;
    if (pending === '' || outputError) return;
    const text = pending;
    pending = '';
    io.output.write(text);
  };
  const out = (line: string): void => {
    if (outputError) throw new OutputClosed();
    pending += line;
    if (pending.length >= OUTPUT_BATCH_CHARS) flush();
    else if (!flushScheduled) {
      flushScheduled = true;
      setImmediate(flush);
    }
  };
  const format = options.format;
  const ndjson = format === 'ndjson';
  // --json and --ndjson stream requests as they complete so that memory does not grow with the capture;
  // --json writes them first (`{"requests":[…],"connections":[…],…}`: key order carries no meaning).
  const streamJson = format === 'json' && !options.html;
  const delimited = format === 'tsv' || format === 'csv';
  const listsRequests = format === 'wide' || options.requests === true;
  const retainRequests = options.html !== undefined || (format === 'json' && !streamJson) || ((format === 'text' || delimited) && options.requests === true) || format === 'wide';
  const filter = options.filter ? new Filter(options.filter) : undefined;
  const fixedReference = options.expiryFrom === 'now' ? Date.now() : typeof options.expiryFrom === 'number' ? options.expiryFrom : null;
  let connectionsSeen = 0;
  try {
    const result = await analyzeCaptures({
      captures: options.captures,
      keyLog,
      // Bodies are printed in JSON only: the other reports never decode them.
      bodies: options.bodies && (ndjson || format === 'json'),
      live,
      retainRequests,
      strict: options.strict,
      onWarning: warn,
      shouldStop: io.shouldStop,
      acceptRequest: filter?.active
        ? (r, c, firstPacketMs) =>
            filter.client(c.client.ip) && filter.request(r.kube) && filter.credential(r.credential, (fixedReference ?? firstPacketMs) + options.expiringWithinDays * DAY_MS)
        : undefined,
      onRequest: (r) => {
        requests += 1;
        if (ndjson) out(`${JSON.stringify({ type: 'request', ...requestJson(r) })}\n`);
        else if (streamJson) out(`${requests === 1 ? '{"requests":[\n' : ',\n'}${JSON.stringify(requestJson(r))}`);
      },
      onProgress: (bytesRead, totalBytes, counts) => {
        connectionsSeen = counts.connections;
        io.onProgress?.({ bytesRead, totalBytes, packets: counts.packets, connections: counts.connections, requests, identities: counts.identities });
      },
    });
    io.onCapturesRead?.();
    if (result.stopped) warn(`interrupted: the report covers what was read until then (${plural(connectionsSeen, 'connection')})`);

    if (keyLog.size === 0 && result.connections.some((c) => c.reason === 'no keys for client random')) {
      warn('no TLS keys were given (--keylog) or embedded in the captures (pcapng secrets blocks): nothing could be decrypted');
    }
    const report = buildReport(
      result.connections,
      result.requests,
      {
        expiringWithinDays: options.expiringWithinDays,
        referenceTimeMs: fixedReference ?? result.firstPacketTimeMs,
        referenceTimeSource: typeof options.expiryFrom === 'number' ? 'given' : options.expiryFrom === 'now' || result.firstPacketTimeMs === null ? 'now' : 'capture',
        filter,
      },
      result.identities,
    );
    if (options.html) writeHtml(options.html, renderHtml(report));
    if (ndjson) {
      for (const c of report.connections) out(`${JSON.stringify({ type: 'connection', ...connectionJson(c) })}\n`);
      for (const identity of reportJsonWithoutRequests(report).identities as object[]) out(`${JSON.stringify({ type: 'identity', ...identity })}\n`);
      out(`${JSON.stringify({ type: 'summary', ...summaryJson(report, requests, result.stopped) })}\n`);
    } else if (streamJson) {
      const tail = JSON.stringify(reportJsonWithoutRequests(report), null, 1).slice(1);
      out(requests === 0 ? `{"requests":[],${tail}\n` : `\n],${tail}\n`);
    } else if (format === 'json') {
      out(`${JSON.stringify(reportJson(report), null, 2)}\n`);
    } else if (delimited) {
      const table = options.requests ? 'requests' : options.connections ? 'connections' : 'identities';
      out(renderDelimitedReport(report, format, { headers: options.headers ?? true, table }));
    } else {
      out(renderText(report, {
        color: options.color, width: options.width, headers: options.headers ?? true, wide: format === 'wide',
        requests: listsRequests, connections: options.connections === true, sources: options.captures,
      }));
    }
    flush();
    return { expiring: report.warnings.length, stopped: result.stopped };
  } catch (err) {
    if (!(err instanceof OutputClosed)) {
      flush(); // what was streamed before a bad capture stopped the run, as when it was written request by request
      throw err;
    }
    if (outputError?.code !== 'EPIPE') {
      throw new GokeylogError(`cannot write the output: ${outputError?.code ?? outputError}.`, ExitCode.failure, { cause: outputError });
    }
    return { expiring: 0, stopped: true };
  } finally {
    io.output.off('error', onOutputError);
  }
}

const plural = (n: number, one: string): string => `${n} ${one}${n === 1 ? '' : 's'}`;

/** The closing NDJSON record: what the stream covered, so that a reader knows it is complete. */
function summaryJson(report: Report, requests: number, stopped: boolean): Record<string, unknown> {
  return {
    connections: report.connections.length,
    requests,
    identities: report.identities.length,
    warnings: report.warnings.map((w) => w.message),
    referenceTime: report.referenceTime,
    referenceTimeSource: report.referenceTimeSource,
    expiringWithinDays: report.expiringWithinDays,
    interrupted: stopped,
  };
}

/** Thrown out of the pipeline when the output went away. */
class OutputClosed extends Error {}

/** The report names identities and requests: a secret output like the key logs (see SecretOutput). */
function writeHtml(file: string, html: string): void {
  const out = SecretOutput.open(file, 'the HTML report', 'replace');
  try {
    writeFileSync(out.fd, html);
    out.commit();
  } catch (err) {
    if (err instanceof GokeylogError) throw err;
    throw new GokeylogError(`cannot write the HTML report ${file}: ${(err as NodeJS.ErrnoException).code ?? err}.`, ExitCode.failure, { cause: err });
  } finally {
    out.discard();
    closeSync(out.fd);
  }
}
