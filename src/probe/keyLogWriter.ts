import { closeSync, constants, fchmodSync, openSync, writeSync } from 'node:fs';
import { formatKeyLogLine, type KeyLogEntry } from '../keylog/index.js';
import { ExitCode, GokeylogError } from '../util/errors.js';

/**
 * Appends NSS key log lines to a file created 0600 (and made 0600 if it existed: key logs are secrets).
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

  constructor(file: string, onError: (err: GokeylogError) => void) {
    this.#onError = onError;
    try {
      this.#fd = openSync(file, constants.O_WRONLY | constants.O_CREAT | constants.O_APPEND, 0o600);
      fchmodSync(this.#fd, 0o600);
    } catch (err) {
      throw new GokeylogError(`cannot open ${file} for the key log: ${(err as NodeJS.ErrnoException).code ?? err}.`, ExitCode.failure, { cause: err });
    }
  }

  add(entry: KeyLogEntry): void {
    this.#pending += `${formatKeyLogLine(entry)}\n`;
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
      this.#failure = new GokeylogError(`cannot write the key log: ${(err as NodeJS.ErrnoException).code ?? err}.`, ExitCode.failure, { cause: err });
      this.#onError(this.#failure);
    }
  }

  close(): void {
    this.flush();
    closeSync(this.#fd);
  }
}
