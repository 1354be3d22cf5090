import { closeSync, fstatSync, ftruncateSync, writeSync } from 'node:fs';
import { formatKeyLogLine, type KeyLogEntry } from '../keylog/index.js';
import { errnoReason, GokeylogError } from '../util/errors.js';

/**
 * Appends whole lines to `fd`: write(2) may take only part of them (a disk that fills up), so it is retried
 * until all are written or it fails; on failure a torn last line is cut off again (regular files), so that
 * the file holds whole lines only. Returns how many lines are in the file, and the error if there was one.
 */
export function appendLines(fd: number, text: string): { lines: number; error?: NodeJS.ErrnoException } {
  const bytes = Buffer.from(text, 'utf8');
  let done = 0;
  try {
    while (done < bytes.length) done += writeSync(fd, bytes, done, bytes.length - done);
    return { lines: countLines(bytes, bytes.length) };
  } catch (err) {
    // (lastIndexOf counts a negative start from the end: nothing written means no whole line.)
    const whole = done === 0 ? 0 : bytes.lastIndexOf(10, done - 1) + 1;
    try {
      const s = fstatSync(fd);
      if (s.isFile() && done > whole) ftruncateSync(fd, s.size - (done - whole));
    } catch {
      // the file stays as it is: its last line is torn
    }
    return { lines: countLines(bytes, whole), error: err as NodeJS.ErrnoException };
  }
}

function countLines(bytes: Buffer, end: number): number {
  let n = 0;
  for (let at = bytes.indexOf(10); at >= 0 && at < end; at = bytes.indexOf(10, at + 1)) n++;
  return n;
}

/**
 * Appends NSS key log lines to a file descriptor the caller opened (see SecretOutput: key logs are secrets),
 * and closes it on close().
 * The lines of one event-loop turn (one read of the trace buffers) go out in a single write(2) of whole
 * lines, right after that turn: a reader following the file (Wireshark) never sees a torn line, and a burst
 * of handshakes costs one system call instead of one per key. `written` counts the keys really in the file.
 */
export class KeyLogWriter {
  readonly #fd: number;
  #pending = '';
  #scheduled = false;
  #failure: GokeylogError | undefined;
  #written = 0;
  readonly #onError: (err: GokeylogError) => void;

  constructor(fd: number, onError: (err: GokeylogError) => void) {
    this.#fd = fd;
    this.#onError = onError;
  }

  /** Keys written to the file (one line each). */
  get written(): number {
    return this.#written;
  }

  add(entry: KeyLogEntry): void {
    this.addLine(formatKeyLogLine(entry));
  }

  /** A line formatted elsewhere (a mid-stream key line of src/keylog/midstream.ts), without its newline. */
  addLine(line: string): void {
    this.#pending += `${line}\n`;
    if (this.#scheduled) return;
    this.#scheduled = true;
    setImmediate(() => this.flush());
  }

  /** Writes what is pending now. */
  flush(): void {
    this.#scheduled = false;
    if (this.#pending === '' || this.#failure) return;
    const text = this.#pending;
    this.#pending = '';
    const { lines, error } = appendLines(this.#fd, text);
    this.#written += lines;
    if (error) {
      this.#failure = new GokeylogError(`cannot write the key log: ${errnoReason(error)}, after ${this.#written} keys.`, 'GOKEYLOG_ERR_IO', { cause: error });
      this.#onError(this.#failure);
    }
  }

  close(): void {
    this.flush();
    closeSync(this.#fd);
  }
}
