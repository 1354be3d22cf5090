/**
 * The page's only script, inline and allowed by its hash in the page's Content-Security-Policy: sorting
 * by a column, filtering rows by words (row text plus `data-terms` such as "cred:3"), and links that show
 * one identity's or connection's rows. It reads the page; no captured data is ever inside the script.
 */
export const SCRIPT = `(() => {
  'use strict';
  const hay = new WeakMap();
  const rowsOf = (table) => Array.from(table.tBodies[0].rows);
  const haystack = (row) => {
    let h = hay.get(row);
    if (h === undefined) {
      h = ((row.dataset.terms || '') + ' ' + row.textContent).toLowerCase();
      hay.set(row, h);
    }
    return h;
  };
  const filter = (id) => {
    const table = document.getElementById(id);
    const input = document.querySelector('input[data-filter="' + id + '"]');
    const count = document.querySelector('[data-count="' + id + '"]');
    if (!table || !input) return;
    const words = input.value.toLowerCase().split(/\\s+/).filter(Boolean);
    const rows = rowsOf(table);
    let shown = 0;
    for (const row of rows) {
      const match = words.every((w) => haystack(row).includes(w));
      row.hidden = !match;
      if (match) shown += 1;
    }
    if (count) count.textContent = words.length ? shown + ' of ' + rows.length + ' rows' : rows.length + ' rows';
  };
  for (const input of document.querySelectorAll('input[data-filter]')) {
    input.addEventListener('input', () => filter(input.dataset.filter));
  }
  const sortValue = (row, i, numeric) => {
    const cell = row.cells[i];
    const v = cell.dataset.v !== undefined ? cell.dataset.v : cell.textContent.trim();
    return numeric || cell.dataset.v !== undefined && v !== '' && !isNaN(Number(v)) ? Number(v) : v.toLowerCase();
  };
  for (const table of document.querySelectorAll('table.data')) {
    const heads = Array.from(table.tHead.rows[0].cells);
    heads.forEach((th, i) => {
      th.querySelector('button').addEventListener('click', () => {
        const ascending = th.getAttribute('aria-sort') !== 'ascending';
        for (const other of heads) other.setAttribute('aria-sort', 'none');
        th.setAttribute('aria-sort', ascending ? 'ascending' : 'descending');
        const numeric = th.hasAttribute('data-numeric');
        const rows = rowsOf(table).map((row, n) => [sortValue(row, i, numeric), n, row]);
        rows.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] - b[1]) * (ascending ? 1 : -1));
        table.tBodies[0].append(...rows.map((r) => r[2]));
      });
    });
  }
  // "Show this identity's requests": filter the target table, then follow the link to it.
  for (const link of document.querySelectorAll('a[data-show]')) {
    link.addEventListener('click', () => {
      const input = document.querySelector('input[data-filter="' + link.dataset.show + '"]');
      if (!input) return;
      input.value = link.dataset.term;
      filter(link.dataset.show);
    });
  }
  // A link to a row that a filter hides clears that filter first.
  const reveal = () => {
    const target = location.hash.length > 1 ? document.getElementById(location.hash.slice(1)) : null;
    const table = target && target.closest('table.data');
    if (!table || !target.hidden) return;
    const input = document.querySelector('input[data-filter="' + table.id + '"]');
    if (input) input.value = '';
    filter(table.id);
    target.scrollIntoView();
  };
  window.addEventListener('hashchange', reveal);
})();`;
