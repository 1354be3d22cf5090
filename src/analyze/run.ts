/**
 * `gokeylog analyze` as a feature: key log files + captures → the pipeline (analyze.ts) → the report
 * (src/report), written to an output stream as text, JSON or NDJSON, and optionally as an HTML file.
 * The CLI parses the arguments and owns the terminal (progress, warnings, colour); this module owns what
 * is written and in which order.
 */
import { closeSync, writeFileSync } from 'node:fs';
import { KeyLog, readKeyLogFiles } from '../keylog/index.js';
import { buildReport, connectionJson, renderHtml, renderText, reportJson, reportJsonWithoutRequests, requestJson } from '../report/index.js';
import { ExitCode, GokeylogError } from '../util/errors.js';
import { SecretOutput } from '../util/secretFile.js';
import { analyzeCaptures } from './analyze.js';

export type AnalyzeFormat = 'text' | 'json' | 'ndjson';

export interface RunAnalyzeOptions {
  captures: string[];
  keyLogFiles: string[];
  format: AnalyzeFormat;
  /** Also write a self-contained HTML report to this file. */
  html?: string;
  expiringWithinDays: number;
  /** Measure certificate expiry from the capture's last packet or from now. */
  expiryFrom: 'capture' | 'now';
  /** Include response bodies (gzip decoded) in JSON output. */
  bodies: boolean;
  /** Colour the text report. */
  color: boolean;
}

export interface RunAnalyzeIo {
  /** Where the report goes (standard output). A reader that goes away (EPIPE) ends the run quietly. */
  output: NodeJS.WritableStream;
  onWarning(message: string): void;
  /** Bytes read over all captures, their total size when known, and the requests decoded so far. */
  onProgress?(bytesRead: number, totalBytes: number | undefined, requests: number): void;
  /** Every capture is read: progress is over, the report follows. */
  onCapturesRead?(): void;
}

export async function runAnalyze(options: RunAnalyzeOptions, io: RunAnalyzeIo): Promise<void> {
  const warn = io.onWarning;
  const keyLog = options.keyLogFiles.length ? await readKeyLogFiles(options.keyLogFiles, { onWarning: warn }) : new KeyLog();
  let requests = 0;
  // A reader that stops early (`| head`) closes the pipe: stop analysing quietly, as Unix tools do.
  let outputError: NodeJS.ErrnoException | undefined;
  const onOutputError = (err: NodeJS.ErrnoException): void => void (outputError ??= err);
  io.output.on('error', onOutputError);
  const out = (line: string): void => {
    if (outputError) throw new OutputClosed();
    io.output.write(line);
  };
  const ndjson = options.format === 'ndjson';
  // --json and --ndjson stream requests as they complete so that memory does not grow with the capture;
  // --json writes them first (`{"requests":[…],"connections":[…],…}`: key order carries no meaning).
  const streamJson = options.format === 'json' && !options.html;
  try {
    const result = await analyzeCaptures({
      captures: options.captures,
      keyLog,
      bodies: options.bodies,
      retainRequests: options.html !== undefined || !(ndjson || streamJson),
      onWarning: warn,
      onRequest: (r) => {
        requests += 1;
        if (ndjson) out(`${JSON.stringify({ type: 'request', ...requestJson(r) })}\n`);
        else if (streamJson) out(`${requests === 1 ? '{"requests":[\n' : ',\n'}${JSON.stringify(requestJson(r))}`);
      },
      onProgress: (read, total) => io.onProgress?.(read, total, requests),
    });
    io.onCapturesRead?.();

    if (keyLog.size === 0 && result.connections.some((c) => c.reason === 'no keys for client random')) {
      warn('no TLS keys were given (--keylog) or embedded in the captures (pcapng secrets blocks): nothing could be decrypted');
    }
    const report = buildReport(
      result.connections,
      result.requests,
      { expiringWithinDays: options.expiringWithinDays, referenceTimeMs: options.expiryFrom === 'now' ? null : result.lastPacketTimeMs },
      result.identities,
    );
    if (options.html) writeHtml(options.html, renderHtml(report));
    if (ndjson) {
      for (const c of report.connections) out(`${JSON.stringify({ type: 'connection', ...connectionJson(c) })}\n`);
      for (const identity of reportJsonWithoutRequests(report).identities as object[]) out(`${JSON.stringify({ type: 'identity', ...identity })}\n`);
    } else if (streamJson) {
      const tail = JSON.stringify(reportJsonWithoutRequests(report), null, 1).slice(1);
      out(requests === 0 ? `{"requests":[],${tail}\n` : `\n],${tail}\n`);
    } else if (options.format === 'json') {
      out(`${JSON.stringify(reportJson(report), null, 2)}\n`);
    } else {
      out(renderText(report, { color: options.color }));
    }
  } catch (err) {
    if (!(err instanceof OutputClosed)) throw err;
    if (outputError?.code !== 'EPIPE') {
      throw new GokeylogError(`cannot write the output: ${outputError?.code ?? outputError}.`, ExitCode.failure, { cause: outputError });
    }
  } finally {
    io.output.off('error', onOutputError);
  }
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
