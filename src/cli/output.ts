/**
 * What a command tells the user besides its result, all on stderr and in one style (`gokeylog: <sentence>`):
 * warnings (something was skipped), notices (what happens now) and one status line for long runs. Results
 * go to stdout (or where -o says); nothing here is ever a secret.
 */

import { escapeControl } from '../util/terminal.js';

/** The status line on screen, which every other line must first clear. */
let shownStatus: StatusLine | undefined;

function line(text: string): void {
  if (shownStatus) shownStatus.print(text);
  else process.stderr.write(`${text}\n`);
}

// Messages quote what the input said (paths, names, server strings): control characters are shown escaped,
// never sent to the terminal.
export function warn(message: string): void {
  line(`gokeylog: warning: ${escapeControl(message)}`);
}

export function notice(message: string): void {
  line(`gokeylog: ${escapeControl(message)}`);
}

/** A command's closing summary of what it wrote (`out.pcapng: 12 packets, …`), a line of its own without the prefix. */
export function summaryLine(message: string): void {
  line(escapeControl(message));
}

const INTERVAL_MS = 250;
/** Short runs show no status line at all. */
const DELAY_MS = 1000;

/**
 * One status line on a terminal's stderr for long runs, rewritten in place at most a few times a second and
 * cleared before anything else is printed (warn and notice go around it). Nothing at all when stderr is no
 * terminal: logs and pipes get only the sentences.
 */
export class StatusLine {
  #shown = false;
  #last = Date.now() + DELAY_MS - INTERVAL_MS;
  readonly #stream: NodeJS.WriteStream;

  constructor(stream: NodeJS.WriteStream = process.stderr) {
    this.#stream = stream;
  }

  get enabled(): boolean {
    return this.#stream.isTTY === true;
  }

  /** `text` is computed only when it will be shown. */
  update(text: () => string): void {
    if (!this.enabled) return;
    const now = Date.now();
    if (now - this.#last < INTERVAL_MS) return;
    this.#last = now;
    const width = this.#stream.columns || 80;
    const status = text();
    this.#stream.write(`\r${status.length >= width ? `${status.slice(0, width - 2)}…` : status}\u001b[K`);
    this.#shown = true;
    shownStatus = this;
  }

  clear(): void {
    if (!this.#shown) return;
    this.#stream.write('\r\u001b[K');
    this.#shown = false;
    if (shownStatus === this) shownStatus = undefined;
  }

  /** A line of its own (a warning), with the status line out of its way. */
  print(text: string): void {
    this.clear();
    this.#stream.write(`${text}\n`);
  }
}

const MIB = 1 << 20;

/** "42% of 310 MiB", or "12 MiB" when the total is unknown (standard input). */
export function bytesProgress(bytesRead: number, totalBytes: number | undefined): string {
  return totalBytes ? `${Math.floor((100 * bytesRead) / totalBytes)}% of ${Math.round(totalBytes / MIB)} MiB` : `${Math.round(bytesRead / MIB)} MiB`;
}
