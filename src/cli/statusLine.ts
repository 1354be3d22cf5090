/**
 * One status line on a terminal's stderr for long runs, rewritten in place at most a few times a second and
 * cleared before anything else is printed (warnings go through `print`). Nothing at all when stderr is no
 * terminal: logs and pipes get only the sentences.
 */
const INTERVAL_MS = 250;
/** Short runs show no status line at all. */
const DELAY_MS = 1000;

export class StatusLine {
  private shown = false;
  private last = Date.now() + DELAY_MS - INTERVAL_MS;

  constructor(private readonly stream: NodeJS.WriteStream = process.stderr) {}

  get enabled(): boolean {
    return this.stream.isTTY === true;
  }

  /** `text` is computed only when it will be shown. */
  update(text: () => string): void {
    if (!this.enabled) return;
    const now = Date.now();
    if (now - this.last < INTERVAL_MS) return;
    this.last = now;
    const width = this.stream.columns || 80;
    const line = text();
    this.stream.write(`\r${line.length >= width ? `${line.slice(0, width - 2)}…` : line}\u001b[K`);
    this.shown = true;
  }

  clear(): void {
    if (!this.shown) return;
    this.stream.write('\r\u001b[K');
    this.shown = false;
  }

  /** A line of its own (a warning), with the status line out of its way. */
  print(line: string): void {
    this.clear();
    this.stream.write(`${line}\n`);
  }
}
