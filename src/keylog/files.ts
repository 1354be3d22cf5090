import { open, type FileHandle } from 'node:fs/promises';
import { errnoReason, fileErrorCode, GokeylogError } from '../util/errors.js';
import { KeyLog } from './keylog.js';
import { parseKeyLog } from './parse.js';

export interface ReadKeyLogOptions {
  /** Told about each bad line that was skipped. */
  onWarning?: (message: string) => void;
}

/** Bytes read at a time: a key log is streamed, never read whole (it may be /dev/zero or hold a 200 MB line). */
const CHUNK_BYTES = 1 << 20;
/** The longest line kept: key log lines are under 200 bytes, mid-stream secret lines under 1 KiB. */
const MAX_LINE_BYTES = 64 << 10;
/** A longer line is skipped without being kept (a 200 MB line is read past), but one this long is no key log: give up (/dev/zero). */
const MAX_SKIPPED_LINE_BYTES = 1 << 30;
/** Warnings held while no valid line has been seen (the file may turn out to be no key log). */
const MAX_HELD_WARNINGS = 1000;

/**
 * Reads and merges NSS key log files (with their mid-stream secrets) (first occurrence of a client random + label wins). Unreadable files
 * and files with no valid line but some invalid ones (not a key log at all) are errors. Files are streamed with
 * every line bounded, so that memory stays flat whatever they hold.
 */
export async function readKeyLogFiles(paths: string[], opts: ReadKeyLogOptions = {}): Promise<KeyLog> {
  const keyLog = new KeyLog();
  for (const path of paths) await readKeyLogFile(path, keyLog, opts);
  return keyLog;
}

async function readKeyLogFile(path: string, keyLog: KeyLog, opts: ReadKeyLogOptions): Promise<void> {
  let handle: FileHandle;
  try {
    handle = await open(path, 'r');
  } catch (err) {
    throw cannotRead(path, err);
  }
  let valid = 0;
  let firstError: string | undefined;
  // Warnings wait for the first valid line: a file with none is refused as a whole, with its first error.
  let held: string[] = [];
  const warn = (message: string): void => {
    if (valid > 0) opts.onWarning?.(message);
    else if (held.length < MAX_HELD_WARNINGS) held.push(message);
  };
  let lines = 0;
  /** Complete lines not parsed yet, and the line number of the first. */
  let batch: string[] = [];
  let batchBytes = 0;
  let batchFirst = 1;
  const parseBatch = (): void => {
    if (batch.length === 0) return;
    const { entries, midstream, errors } = parseKeyLog(batch.join('\n'));
    for (const e of entries) keyLog.add(e);
    for (const s of midstream) keyLog.addMidstream(s);
    if (valid === 0 && entries.length + midstream.length > 0) {
      valid += entries.length + midstream.length;
      for (const message of held) opts.onWarning?.(message);
      held = [];
    } else {
      valid += entries.length + midstream.length;
    }
    for (const e of errors) {
      const line = batchFirst + e.line - 1;
      firstError ??= `line ${line}: ${e.message}`;
      warn(`${path}:${line}: ${e.message}, line skipped`);
    }
    batch = [];
    batchBytes = 0;
    batchFirst = lines + 1;
  };
  const overlong = (line: number): void => {
    parseBatch();
    if (valid === 0) throw notKeyLog(path, `line ${line} is over ${MAX_LINE_BYTES >> 10} KiB long`);
    warn(`${path}:${line}: over ${MAX_LINE_BYTES >> 10} KiB long, line skipped`);
  };
  try {
    const buf = Buffer.allocUnsafe(CHUNK_BYTES);
    /** The start of the current line (bounded by MAX_LINE_BYTES), or its length so far once it is being skipped. */
    let partial: Buffer[] = [];
    let partialBytes = 0;
    let skipping = false;
    for (;;) {
      let n: number;
      try {
        ({ bytesRead: n } = await handle.read(buf, 0, CHUNK_BYTES, null));
      } catch (err) {
        throw cannotRead(path, err);
      }
      if (n === 0) break;
      const chunk = buf.subarray(0, n);
      let start = 0;
      for (let nl = chunk.indexOf(10); nl >= 0; nl = chunk.indexOf(10, start)) {
        lines++;
        if (!skipping) {
          partial.push(chunk.subarray(start, nl));
          const text = Buffer.concat(partial).toString('utf8');
          batch.push(text);
          batchBytes += text.length;
        } else {
          batchFirst = lines + 1;
        }
        partial = [];
        partialBytes = 0;
        skipping = false;
        start = nl + 1;
        if (batchBytes >= CHUNK_BYTES) parseBatch();
      }
      partialBytes += n - start;
      if (skipping) {
        if (partialBytes > MAX_SKIPPED_LINE_BYTES) throw notKeyLog(path, `line ${lines + 1} is over ${MAX_SKIPPED_LINE_BYTES >> 30} GiB long`);
      } else if (partialBytes > MAX_LINE_BYTES) {
        overlong(lines + 1);
        skipping = true;
        partial = [];
      } else if (n > start) {
        partial.push(Buffer.from(chunk.subarray(start)));
      }
    }
    if (!skipping && partialBytes > 0) {
      lines++;
      batch.push(Buffer.concat(partial).toString('utf8'));
    }
    parseBatch();
  } finally {
    await handle.close();
  }
  if (valid === 0 && firstError !== undefined) throw notKeyLog(path, firstError);
}

const notKeyLog = (path: string, why: string): GokeylogError => new GokeylogError(`${path} is not an NSS key log (${why}).`, 'GOKEYLOG_ERR_BAD_KEYLOG');

function cannotRead(path: string, err: unknown): GokeylogError {
  return new GokeylogError(`cannot read key log ${path}: ${errnoReason(err)}.`, fileErrorCode(err), { cause: err });
}
