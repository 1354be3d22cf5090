/**
 * Aligned columns as kubectl prints them: a header line, then one line per row, two spaces between columns,
 * no box drawing and no rule between rows, so that grep/awk/cut work on it. On a terminal the table is fitted
 * to the measured width: columns marked `wrap` are wrapped onto more lines, the others cut with "…".
 * Every cell is escaped here (src/util/terminal.ts), so no caller can print raw wire text by accident.
 * Linear in the number of cells: a capture with 100k connections renders in one pass over them.
 */
import stringWidth from 'string-width';
import { escapeControl } from '../util/terminal.js';

export interface Column {
  header: string;
  /** How the cell gives way when the table is wider than the terminal (default: never narrower than its content). */
  shrink?: 'wrap' | 'truncate';
  align?: 'left' | 'right';
}

export type RowStyle = 'bad' | 'warn' | undefined;

export interface TableOptions {
  /** Fit into this many columns; undefined = as wide as the content (not a terminal). */
  width?: number;
  headers: boolean;
  color: boolean;
  rowStyle?: (row: number) => RowStyle;
}

const GAP = 2;
/** A shrinking column keeps at least this many characters (or its header's width). */
const MIN_SHRUNK = 8;
/** A wrapped cell takes at most this many lines (a 64 KiB path must not fill the screen). */
const MAX_WRAPPED_LINES = 4;

const ANSI = { bold: '\u001b[1m', red: '\u001b[31m', yellow: '\u001b[33m', reset: '\u001b[0m' };

/** Display width; printable ASCII (nearly every cell) is counted without the Unicode tables. */
export function displayWidth(text: string): number {
  return /^[\x20-\x7e]*$/.test(text) ? text.length : stringWidth(text);
}

export function renderTable(columns: Column[], rows: readonly (readonly unknown[])[], options: TableOptions): string[] {
  const cells = rows.map((row) => columns.map((_, i) => escapeControl(String(row[i] ?? ''))));
  const head = columns.map((c) => c.header);
  const natural = columns.map((c, i) => {
    let w = options.headers ? displayWidth(c.header) : 0;
    for (const row of cells) w = Math.max(w, displayWidth(row[i]!));
    return w;
  });
  const widths = options.width === undefined ? natural : fit(columns, natural, options.width, options.headers);
  const lines: string[] = [];
  if (options.headers) {
    const line = formatRow(columns, head.map((h, i) => cut(h, widths[i]!)), widths);
    lines.push(options.color ? `${ANSI.bold}${line}${ANSI.reset}` : line);
  }
  for (const [r, row] of cells.entries()) {
    const style = options.color ? options.rowStyle?.(r) : undefined;
    const colour = style === 'bad' ? ANSI.red : style === 'warn' ? ANSI.yellow : '';
    for (const line of rowLines(columns, row, widths)) lines.push(colour ? `${colour}${line}${ANSI.reset}` : line);
  }
  return lines;
}

/** Narrow the shrinkable columns, widest first, until the table fits (or nothing can give way any more). */
function fit(columns: Column[], natural: number[], width: number, headers: boolean): number[] {
  const widths = [...natural];
  const floor = columns.map((c, i) => (c.shrink ? Math.min(natural[i]!, Math.max(MIN_SHRUNK, headers ? displayWidth(c.header) : 0)) : natural[i]!));
  let excess = widths.reduce((a, b) => a + b, 0) + GAP * (columns.length - 1) - width;
  while (excess > 0) {
    let widest = -1;
    for (const [i, w] of widths.entries()) if (w > floor[i]! && (widest < 0 || w > widths[widest]!)) widest = i;
    if (widest < 0) break;
    // Down to the next widest column's width at once: a few steps per column, not one per character.
    let next = floor[widest]!;
    for (const [i, w] of widths.entries()) if (i !== widest && w < widths[widest]! && w > next) next = w;
    const step = Math.max(1, Math.min(excess, widths[widest]! - next));
    widths[widest]! -= step;
    excess -= step;
  }
  return widths;
}

function rowLines(columns: Column[], row: string[], widths: number[]): string[] {
  const pieces = columns.map((c, i) => {
    const cell = row[i]!;
    if (displayWidth(cell) <= widths[i]!) return [cell];
    return c.shrink === 'wrap' ? wrap(cut(cell, widths[i]! * MAX_WRAPPED_LINES), widths[i]!).slice(0, MAX_WRAPPED_LINES) : [cut(cell, widths[i]!)];
  });
  const height = Math.max(...pieces.map((p) => p.length));
  const lines: string[] = [];
  for (let l = 0; l < height; l++) lines.push(formatRow(columns, pieces.map((p) => p[l] ?? ''), widths));
  return lines;
}

function formatRow(columns: Column[], cells: string[], widths: number[]): string {
  let line = '';
  for (const [i, cell] of cells.entries()) {
    const pad = ' '.repeat(Math.max(0, widths[i]! - displayWidth(cell)));
    const last = i === cells.length - 1;
    line += columns[i]!.align === 'right' ? pad + cell : last ? cell : cell + pad;
    if (!last) line += ' '.repeat(GAP);
  }
  return line.trimEnd();
}

/** The text cut to `width` display columns, ending in "…" when anything was cut. */
export function cut(text: string, width: number): string {
  if (displayWidth(text) <= width) return text;
  if (width <= 1) return '…'.slice(0, width);
  let out = '';
  let used = 0;
  for (const ch of text) {
    const w = displayWidth(ch);
    if (used + w > width - 1) break;
    out += ch;
    used += w;
  }
  return `${out}…`;
}

/** Lines of at most `width` display columns, broken after spaces, `/`, `,`, `&` or `?` when possible. */
export function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let rest = text;
  for (;;) {
    let take = 0;
    let used = 0;
    let lastBreak = 0;
    let fits = true;
    for (const ch of rest) {
      const w = displayWidth(ch);
      if (used + w > width) {
        fits = false;
        break;
      }
      used += w;
      take += ch.length;
      if (/[\s/,&?;=]/.test(ch)) lastBreak = take;
    }
    if (fits) break;
    const at = lastBreak > width / 3 ? lastBreak : Math.max(1, take);
    lines.push(rest.slice(0, at).trimEnd());
    rest = rest.slice(at).trimStart();
  }
  if (rest || lines.length === 0) lines.push(rest);
  return lines;
}

/**
 * Tab- or comma-separated values with a header line. Control characters (tabs and newlines too) are escaped
 * like everywhere else, so a TSV cell never splits; CSV quotes as RFC 4180 says.
 */
export function renderDelimited(format: 'tsv' | 'csv', header: string[], rows: readonly (readonly unknown[])[], headers: boolean): string[] {
  const quote = format === 'csv' ? (v: string) => (/[",]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v) : (v: string) => v;
  const sep = format === 'csv' ? ',' : '\t';
  const lines = headers ? [header.map(quote).join(sep)] : [];
  for (const row of rows) lines.push(row.map((v) => quote(escapeControl(String(v ?? '')))).join(sep));
  return lines;
}
