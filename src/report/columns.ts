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
  /**
   * May be left out when even the narrowed table does not fit: columns with higher numbers go first. Without
   * it a column always stays.
   */
  drop?: number;
  /** A shrinking column keeps at least this many characters (default MIN_SHRUNK). */
  min?: number;
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
const MIN_SHRUNK = 10;
/** A wrapped cell takes at most this many lines (a 64 KiB path must not fill the screen). */
const MAX_WRAPPED_LINES = 4;

const ANSI = { bold: '\u001b[1m', red: '\u001b[31m', yellow: '\u001b[33m', reset: '\u001b[0m' };

/** Display width; printable ASCII (nearly every cell) is counted without the Unicode tables. */
export function displayWidth(text: string): number {
  return /^[\x20-\x7e]*$/.test(text) ? text.length : stringWidth(text);
}

export function renderTable(columns: Column[], rows: readonly (readonly unknown[])[], options: TableOptions): string[] {
  return [...tableLines(columns, rows, options)];
}

/** The table's lines, made as they are taken: widths need one pass over the cells, the lines none held. */
export function* tableLines(allColumns: Column[], rows: readonly (readonly unknown[])[], options: TableOptions): Generator<string> {
  const allCells = rows.map((row) => allColumns.map((_, i) => escapeControl(String(row[i] ?? ''))));
  const allNatural = allColumns.map((c, i) => {
    let w = options.headers ? displayWidth(c.header) : 0;
    for (const row of allCells) w = Math.max(w, displayWidth(row[i]!));
    return w;
  });
  const keep = options.width === undefined ? allColumns.map((_, i) => i) : columnsThatFit(allColumns, allNatural, options.width, options.headers);
  const columns = keep.map((i) => allColumns[i]!);
  const natural = keep.map((i) => allNatural[i]!);
  const cells = keep.length === allColumns.length ? allCells : allCells.map((row) => keep.map((i) => row[i]!));
  const head = columns.map((c) => c.header);
  const widths = options.width === undefined ? natural : fit(columns, natural, options.width, options.headers);
  if (options.headers) {
    const line = formatRow(columns, head.map((h, i) => cut(h, widths[i]!)), widths);
    yield options.color ? `${ANSI.bold}${line}${ANSI.reset}` : line;
  }
  for (const [r, row] of cells.entries()) {
    const style = options.color ? options.rowStyle?.(r) : undefined;
    const colour = style === 'bad' ? ANSI.red : style === 'warn' ? ANSI.yellow : '';
    for (const line of rowLines(columns, row, widths)) yield colour ? `${colour}${line}${ANSI.reset}` : line;
  }
}

const floorOf = (c: Column, natural: number, headers: boolean): number =>
  c.shrink ? Math.min(natural, Math.max(c.min ?? MIN_SHRUNK, headers ? displayWidth(c.header) : 0)) : natural;

/** Past this much narrowing (natural width / terminal width) a droppable column leaves rather than cutting every cell. */
const MAX_SQUEEZE = 1.5;

/**
 * The indexes of the columns that stay: droppable ones leave, highest `drop` first, until the table fits at
 * its narrowest and needs no more than MAX_SQUEEZE of narrowing.
 */
function columnsThatFit(columns: Column[], natural: number[], width: number, headers: boolean): number[] {
  const keep = columns.map((_, i) => i);
  const total = (w: (i: number) => number): number => keep.reduce((sum, i) => sum + w(i), 0) + GAP * (keep.length - 1);
  const order = keep.filter((i) => columns[i]!.drop !== undefined).sort((a, b) => columns[b]!.drop! - columns[a]!.drop!);
  for (const i of order) {
    if (total((k) => floorOf(columns[k]!, natural[k]!, headers)) <= width && total((k) => natural[k]!) <= width * MAX_SQUEEZE) break;
    keep.splice(keep.indexOf(i), 1);
  }
  return keep;
}

/** Narrow the shrinkable columns, widest first, until the table fits (or nothing can give way any more). */
function fit(columns: Column[], natural: number[], width: number, headers: boolean): number[] {
  const widths = [...natural];
  const floor = columns.map((c, i) => floorOf(c, natural[i]!, headers));
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

/**
 * The longest head of `text` that fits `width` display columns, broken after a space, `/`, `,`, `&`, `?`, `;`
 * or `=` when one is in its last two thirds, and the rest (without the spaces at the break).
 */
export function splitAt(text: string, width: number): [string, string] {
  let take = 0;
  let used = 0;
  let lastBreak = 0;
  for (const ch of text) {
    const w = displayWidth(ch);
    if (used + w > width) {
      const at = lastBreak > width / 3 ? lastBreak : Math.max(1, take);
      return [text.slice(0, at).trimEnd(), text.slice(at).trimStart()];
    }
    used += w;
    take += ch.length;
    if (/[\s/,&?;=]/.test(ch)) lastBreak = take;
  }
  return [text, ''];
}

/** Lines of at most `width` display columns (see splitAt). */
export function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let rest = text;
  do {
    const [head, tail] = splitAt(rest, width);
    lines.push(head);
    rest = tail;
  } while (rest);
  return lines;
}

/**
 * Tab- or comma-separated values with a header line. Control characters (tabs and newlines too) are escaped
 * like everywhere else, so a TSV cell never splits; CSV quotes as RFC 4180 says.
 */
export function renderDelimited(format: 'tsv' | 'csv', header: string[], rows: readonly (readonly unknown[])[], headers: boolean): string[] {
  return [...delimitedLines(format, header, rows, headers)];
}

export function* delimitedLines(format: 'tsv' | 'csv', header: string[], rows: readonly (readonly unknown[])[], headers: boolean): Generator<string> {
  const quote = format === 'csv' ? (v: string) => (/[",]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v) : (v: string) => v;
  const sep = format === 'csv' ? ',' : '\t';
  if (headers) yield header.map(quote).join(sep);
  for (const row of rows) yield row.map((v) => quote(escapeControl(String(v ?? '')))).join(sep);
}
