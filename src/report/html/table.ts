/**
 * A sortable, filterable table: the markup the inline script (script.ts) works on. Cells are HTML that the
 * caller escaped; `sort` gives the value a column sorts by when its text would not (times, time left).
 */
import { esc } from './escape.js';

export interface Column {
  title: string;
  numeric?: boolean;
  /** A class for the column's cells (widths, wrapping). */
  cls?: string;
}

export interface Cell {
  html: string;
  sort?: string | number;
}

export interface Row {
  cells: (Cell | string)[];
  id?: string;
  cls?: string;
  /** Extra filter terms for the row (e.g. "cred:3"), matched like its text. */
  terms?: string;
}

export function table(id: string, caption: string, columns: Column[], rows: Row[], note = ''): string {
  const head = columns
    .map((c) => `<th${c.numeric ? ' data-numeric' : ''}${c.cls ? ` class="${c.cls}"` : ''} aria-sort="none"><button type="button">${esc(c.title)}</button></th>`)
    .join('');
  const body = rows
    .map((r) => {
      const attrs = `${r.id ? ` id="${esc(r.id)}"` : ''}${r.cls ? ` class="${esc(r.cls)}"` : ''}${r.terms ? ` data-terms="${esc(r.terms)}"` : ''}`;
      const cells = r.cells
        .map((cell, i) => {
          const c = typeof cell === 'string' ? { html: cell } : cell;
          const cls = columns[i]?.cls;
          return `<td${cls ? ` class="${cls}"` : ''}${c.sort !== undefined ? ` data-v="${esc(c.sort)}"` : ''}>${c.html}</td>`;
        })
        .join('');
      return `<tr${attrs}>${cells}</tr>`;
    })
    .join('\n');
  return `<div class="table-tools"><input type="search" data-filter="${esc(id)}" placeholder="filter ${esc(caption)}…" aria-label="filter ${esc(caption)}">` +
    `<span class="count" data-count="${esc(id)}">${rows.length} rows</span>${note ? ` <span class="muted">${note}</span>` : ''}</div>` +
    `<table id="${esc(id)}" class="data"><thead><tr>${head}</tr></thead><tbody>\n${body}\n</tbody></table>`;
}
