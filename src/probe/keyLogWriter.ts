import { closeSync, writeSync } from 'node:fs';
import { formatKeyLogLine, type KeyLogEntry } from '../keylog/index.js';
import { GokeylogError } from '../util/errors.js';

/**
 * Appends NSS key log lines to a file descriptor the caller opened (see openSecretFile: key logs are secrets),
 * and closes it on close().
 * The lines of one event-loop turn (one read of the trace buffers) go out in a single write(2) of whole
 * lines, right after that turn: a reader following the file (Wireshark) never sees a torn line, and a burst
 * of handshakes costs one system call instead of one per key.
 */
export class KeyLogWriter {
  readonly #fd: number;
  #pending = '';
  #scheduled = false;
  #failure: GokeylogError | undefined;
  readonly #onError: (err: GokeylogError) => void;

  constructor(fd: number, onError: (err: GokeylogError) => void) {
    this.#fd = fd;
    this.#onError = onError;
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
    try {
      writeSync(this.#fd, text);
    } catch (err) {
      this.#failure = new GokeylogError(`cannot write the key log: ${(err as NodeJS.ErrnoException).code ?? err}.`, 'GOKEYLOG_ERR_IO', { cause: err });
      this.#onError(this.#failure);
    }
  }

  close(): void {
    this.flush();
    closeSync(this.#fd);
  }
}
