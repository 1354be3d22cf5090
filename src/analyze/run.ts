/**
 * `gokeylog analyze` as a feature: key log files + captures → the pipeline (analyze.ts) → the report
 * (src/report), written to an output stream as text, JSON or NDJSON, and optionally as an HTML file.
 * The CLI parses the arguments and owns the terminal (progress, warnings, colour); this module owns what
 * is written and in which order.
 */
import { closeSync, writeFileSync } from 'node:fs';
import { KeyLog, readKeyLogFiles } from '../keylog/index.js';
import {
  buildReport, connectionJson, delimitedReportLines, ExpiryWindow, Filter, identityJson, renderHtml, reportJsonWithoutRequests, requestJson, textLines,
  type Report, type ReportFilter,
} from '../report/index.js';
import { errnoReason, GokeylogError } from '../util/errors.js';
import { SecretOutput } from '../util/secretFile.js';
import { analyzeCaptures } from './analyze.js';
import { readConnsFiles } from './liveConns.js';
import { count } from '../util/count.js';

export type AnalyzeFormat = 'text' | 'wide' | 'json' | 'ndjson' | 'tsv' | 'csv';

export interface RunAnalyzeOptions {
  captures: string[];
  /** The node of each capture, by position (see AnalyzeOptions.labels). */
  labels?: string[];
  keyLogFiles: string[];
  /** `gokeylog conns --json` outputs: identities of connections whose handshake the capture lacks. */
  connsFiles?: string[];
  format: AnalyzeFormat;
  /** Also write a self-contained HTML report to this file. */
  html?: string;
  expiringWithinDays: number;
  /** Measure expiry from the first capture's first packet, from the clock, or from a given time. */
  expiryFrom: 'capture' | 'now' | { atSeconds: number };
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
  /** Holes in TCP streams: segments the capture lost (the kernel dropped them, or a snap length cut them). */
  gaps: number;
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

export interface RunAnalyzeResult {
  /** Credentials (and server certificates) that are expired or expire within the window: --fail-on-expiry. */
  expiring: number;
  /** Reading was stopped before the end of the input. */
  stopped: boolean;
}

export async function runAnalyze(options: RunAnalyzeOptions, io: RunAnalyzeIo): Promise<RunAnalyzeResult> {
  const warn = io.onWarning;
  const keyLog = options.keyLogFiles.length ? await readKeyLogFiles(options.keyLogFiles, { onWarning: warn }) : new KeyLog();
  const live = options.connsFiles?.length ? await readConnsFiles(options.connsFiles) : undefined;
  let requests = 0;
  const output = new ReportOutput(io.output);
  const out = (text: string): void => {
    output.queue(text);
    output.flushIfFull();
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
  const fixedReference = options.expiryFrom === 'now' ? Date.now() / 1000 : typeof options.expiryFrom === 'object' ? options.expiryFrom.atSeconds : null;
  // --expiring-only's window, made at the first request: the reference (the first packet's time) is set by then.
  let window: ExpiryWindow | undefined;
  const expiryWindow = (referenceSeconds: number): ExpiryWindow => (window ??= new ExpiryWindow(referenceSeconds, options.expiringWithinDays));
  try {
    const result = await analyzeCaptures({
      captures: options.captures,
      labels: options.labels,
      keyLog,
      // Bodies are printed in JSON only: the other reports never decode them.
      bodies: options.bodies && (ndjson || format === 'json'),
      live,
      retainRequests,
      strict: options.strict,
      onWarning: warn,
      shouldStop: io.shouldStop,
      // Streamed requests wait for a slow reader instead of piling up in memory.
      pause: () => output.drained(),
      acceptRequest: filter?.active
        ? (r, c, firstPacketTimeSeconds) =>
            filter.client(c.client.ip) && filter.request(r.kube) && filter.credential(r.credential, expiryWindow(fixedReference ?? firstPacketTimeSeconds))
        : undefined,
      onRequest: (r) => {
        requests += 1;
        if (ndjson) out(`${JSON.stringify({ type: 'request', ...requestJson(r) })}\n`);
        else if (streamJson) out(`${requests === 1 ? '{"requests":[\n' : ',\n'}${JSON.stringify(requestJson(r))}`);
      },
      onProgress: (bytesRead, totalBytes, counts) => {
        io.onProgress?.({ bytesRead, totalBytes, ...counts, requests });
      },
    });
    io.onCapturesRead?.();
    if (result.stopped) warn(`interrupted: the report covers what was read until then (${count(result.connections.length, 'connection')})`);

    if (keyLog.size === 0 && result.connections.some((c) => c.reason === 'no keys for client random')) {
      warn('no TLS keys were given (--keylog) or embedded in the captures (pcapng secrets blocks): nothing could be decrypted');
    }
    const report = buildReport(
      result.connections,
      result.requests,
      {
        expiringWithinDays: options.expiringWithinDays,
        referenceTimeSeconds: fixedReference ?? result.firstPacketTimeSeconds,
        referenceTimeSource: typeof options.expiryFrom === 'object' ? 'given' : options.expiryFrom === 'now' || result.firstPacketTimeSeconds === null ? 'now' : 'capture',
        filter,
      },
      result.identities,
    );
    if (options.html) writeHtml(options.html, renderHtml(report));
    if (ndjson) {
      for (const c of report.connections) await output.line(JSON.stringify({ type: 'connection', ...connectionJson(c) }));
      for (const i of report.identities) await output.line(JSON.stringify({ type: 'identity', ...identityJson(i) }));
      await output.line(JSON.stringify({ type: 'summary', ...summaryJson(report, requests, result.stopped) }));
    } else if (format === 'json') {
      // One object, written piece by piece: 100k connections never become one string.
      if (!streamJson) for (const [n, r] of report.requests.entries()) await output.write(`${n === 0 ? '{"requests":[\n' : ',\n'}${JSON.stringify(requestJson(r))}`);
      const written = streamJson ? requests : report.requests.length;
      await output.write(written === 0 ? '{"requests":[],\n"connections":[' : '\n],\n"connections":[');
      for (const [n, c] of report.connections.entries()) await output.write(`${n === 0 ? '\n' : ',\n'}${JSON.stringify(connectionJson(c))}`);
      const { connections: _, ...rest } = reportJsonWithoutRequests(report);
      await output.write(`${report.connections.length ? '\n' : ''}],\n${JSON.stringify(rest, null, 1).slice(1)}\n`);
    } else if (delimited) {
      const table = options.requests ? 'requests' : options.connections ? 'connections' : 'identities';
      for (const line of delimitedReportLines(report, format, { headers: options.headers ?? true, table })) await output.line(line);
    } else {
      const lines = textLines(report, {
        color: options.color, width: options.width, headers: options.headers ?? true, wide: format === 'wide',
        requests: listsRequests, connections: options.connections === true, sources: options.captures,
      });
      for (const line of lines) await output.line(line);
    }
    await output.drained();
    return { expiring: report.warnings.length, stopped: result.stopped };
  } catch (err) {
    if (!(err instanceof OutputClosed)) {
      await output.drained().catch(() => undefined); // what was streamed before a bad capture stopped the run
      throw err;
    }
    if (err.cause.code !== 'EPIPE') {
      throw new GokeylogError(`cannot write the output: ${errnoReason(err.cause)}.`, 'GOKEYLOG_ERR_IO', { cause: err.cause });
    }
    return { expiring: 0, stopped: true };
  } finally {
    output.close();
  }
}


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
class OutputClosed extends Error {
  constructor(override readonly cause: NodeJS.ErrnoException) {
    super('output closed');
  }
}

/** Output is gathered into writes of this size. */
const CHUNK = 64 * 1024;

/**
 * The report's output stream with backpressure: text is gathered into chunks, and `line`/`write` wait while
 * the reader is behind, so that a 100k-row report never sits in memory as a whole. A reader that stops early
 * (`| head`) closes the pipe: the next write throws OutputClosed and the run ends quietly, as Unix tools do.
 */
class ReportOutput {
  #pending = '';
  #scheduled = false;
  #error: NodeJS.ErrnoException | undefined;
  readonly #onError = (err: NodeJS.ErrnoException): void => void (this.#error ??= err);
  readonly #stream: NodeJS.WritableStream;

  constructor(stream: NodeJS.WritableStream) {
    this.#stream = stream;
    stream.on('error', this.#onError);
  }

  /**
   * Adds text without waiting (inside the analysis, which waits in `drained` between batches). It is written
   * at the end of this turn of the event loop at the latest: a live capture's requests show as they come, and
   * one write per batch of packets costs less than one per request.
   */
  queue(text: string): void {
    if (this.#error) throw new OutputClosed(this.#error);
    this.#pending += text;
    if (!this.#scheduled) {
      this.#scheduled = true;
      setImmediate(() => {
        this.#scheduled = false;
        void this.#flush();
      });
    }
  }

  flushIfFull(): void {
    if (this.#pending.length >= CHUNK) void this.#flush();
  }

  /** Adds text, waiting while the reader is behind. */
  async write(text: string): Promise<void> {
    this.queue(text);
    if (this.#pending.length >= CHUNK) await this.drained();
  }

  line(text: string): Promise<void> {
    return this.write(`${text}\n`);
  }

  /** Resolves once everything so far has been taken by the reader; throws if the reader went away. */
  async drained(): Promise<void> {
    await this.#flush();
    if (this.#error) throw new OutputClosed(this.#error);
  }

  close(): void {
    this.#stream.off('error', this.#onError);
  }

  /** Never rejects: errors are kept for the next write. */
  async #flush(): Promise<void> {
    if (this.#error) return;
    const text = this.#pending;
    this.#pending = '';
    if (text && this.#stream.write(text)) return;
    if (!text && !(this.#stream as { writableNeedDrain?: boolean }).writableNeedDrain) return;
    await new Promise<void>((resolve) => {
      const done = (): void => {
        this.#stream.off('drain', done);
        this.#stream.off('error', done);
        this.#stream.off('close', done);
        resolve();
      };
      this.#stream.on('drain', done);
      this.#stream.on('error', done);
      this.#stream.on('close', done);
    });
  }
}

/** The report names identities and requests: a secret output like the key logs (see SecretOutput). */
function writeHtml(file: string, html: string): void {
  const out = SecretOutput.open(file, 'the HTML report', 'replace');
  try {
    writeFileSync(out.fd, html);
    out.commit();
  } catch (err) {
    if (err instanceof GokeylogError) throw err;
    throw new GokeylogError(`cannot write the HTML report ${file}: ${errnoReason(err)}.`, 'GOKEYLOG_ERR_IO', { cause: err });
  } finally {
    out.discard();
    closeSync(out.fd);
  }
}
