/**
 * Activity over the capture's time: one lane per identity with its requests per interval (errors, status
 * ≥ 400 or reset, stacked in red), on one shared scale so that lanes compare; and the verb × resource heat
 * map of every request.
 */
import { count } from '../../util/count.js';
import type { AnalyzedRequest } from '../model.js';
import { esc } from './escape.js';
import { clock, span } from './format.js';
import { label, pct, px, ticks, timeScale } from './svg.js';
import type { ReportView } from './view.js';

/** The bars' track in percent of the width (see svg.ts): names left of it, each lane's total right. */
const TRACK_FROM = 36;
const TRACK_TO = 93;
const LANE_H = 30;
const BINS = 48;

const isError = (r: AnalyzedRequest): boolean => (r.exchange.status ?? 0) >= 400 || r.exchange.reset !== undefined;

interface Lane {
  name: string;
  link: string | null;
  state: string;
  requests: AnalyzedRequest[];
}

function lanes(view: ReportView): Lane[] {
  const byAnchor = new Map<string, Lane>(view.identities.map((c) => [c.anchor, { name: c.name, link: c.link, state: c.state, requests: [] }]));
  const without: Lane = { name: 'credential unknown', link: null, state: 'unknown', requests: [] };
  for (const r of view.report.requests) {
    const identity = view.identityOfRequest(r);
    (identity ? byAnchor.get(identity.anchor)! : without).requests.push(r);
  }
  const busy = [...byAnchor.values(), without].filter((l) => l.requests.length > 0);
  if (busy.length <= MAX_LANES) return busy;
  // The busiest ones, in the identities' order.
  const kept = new Set([...busy].sort((a, b) => b.requests.length - a.requests.length).slice(0, MAX_LANES));
  return busy.filter((l) => kept.has(l));
}

const MAX_LANES = 20;

export function activityLanes(view: ReportView): string {
  const all = lanes(view);
  if (all.length === 0) return '<p class="muted">No decrypted request.</p>';
  const from = view.captureStartMs;
  const to = Math.max(view.captureEndMs, from + 1000);
  const binMs = (to - from) / BINS;
  const x = timeScale(from, to, TRACK_FROM, TRACK_TO);
  const binW = (TRACK_TO - TRACK_FROM) / BINS;
  const counts = all.map((lane) => {
    const bins = Array.from({ length: BINS }, () => ({ ok: 0, errors: 0 }));
    for (const r of lane.requests) {
      const i = Math.min(BINS - 1, Math.max(0, Math.floor((r.exchange.firstTimeSeconds * 1000 - from) / binMs)));
      if (isError(r)) bins[i]!.errors += 1;
      else bins[i]!.ok += 1;
    }
    return bins;
  });
  const max = Math.max(1, ...counts.flat().map((b) => b.ok + b.errors));
  const height = all.length * LANE_H + 28;
  const out = [`<svg class="chart lanes" width="100%" height="${height}" role="img" aria-label="Requests per ${esc(span(binMs))} and identity">`];
  all.forEach((lane, i) => {
    const y0 = i * LANE_H;
    const base = y0 + LANE_H - 4;
    const name = label(lane.name, 31);
    out.push(lane.link ? `<a href="${lane.link}" class="lane ${lane.state}">` : `<g class="lane ${lane.state}">`);
    out.push(`<title>${name.full}: ${lane.requests.length} requests</title>`);
    out.push(`<text class="name" x="4" y="${px(base - 6)}">${name.shown}</text>`);
    out.push(`<text class="total" x="100%" dx="-4" y="${px(base - 6)}" text-anchor="end">${lane.requests.length}</text>`);
    out.push(`<line class="baseline" x1="${pct(TRACK_FROM)}" x2="${pct(TRACK_TO)}" y1="${px(base)}" y2="${px(base)}"/>`);
    counts[i]!.forEach((b, j) => {
      const n = b.ok + b.errors;
      if (n === 0) return;
      const bx = TRACK_FROM + j * binW;
      // One request among thousands still shows: at least 2 px, and 2 px of red for any failure.
      const he = b.errors ? Math.max(2, ((LANE_H - 8) * b.errors) / max) : 0;
      const h = Math.max(he + (b.ok ? 2 : 0), ((LANE_H - 8) * n) / max);
      const when = `${clock(from + j * binMs)}: ${count(n, 'request')}${b.errors ? `, ${b.errors} failed` : ''}`;
      out.push(`<g><title>${esc(when)}</title>`);
      if (b.ok) out.push(`<rect class="bar" x="${pct(bx)}" y="${px(base - h)}" width="${pct(binW * 0.85)}" height="${px(h - he)}"/>`);
      if (b.errors) out.push(`<rect class="bar error" x="${pct(bx)}" y="${px(base - he)}" width="${pct(binW * 0.85)}" height="${px(he)}"/>`);
      out.push('</g>');
    });
    out.push(lane.link ? '</a>' : '</g>');
  });
  const axisY = all.length * LANE_H + 16;
  const { step, at } = ticks(from, to, 6);
  // As precise as the step: 20:57:24.5 for half seconds, 20:57:24, or 20:57 for minutes.
  const digits = step < 1000 ? 10 : step < 60_000 ? 8 : 5;
  for (const t of at) {
    out.push(`<text class="tick" x="${pct(x(t))}" y="${axisY}" text-anchor="middle">${esc(clock(t).slice(0, digits))}</text>`);
  }
  out.push(`<text class="tick" x="4" y="${axisY}">UTC · bar = ${esc(span(binMs))}</text>`);
  out.push('</svg>');
  const identities = new Set(view.report.requests.map((r) => view.identityOfRequest(r))).size;
  if (identities > all.length) out.push(`<p class="muted">The ${all.length} busiest of ${identities} identities.</p>`);
  return out.join('');
}

/** Kubernetes' verbs in the order people read them; others (non-resource methods) follow alphabetically. */
const VERBS = ['get', 'list', 'watch', 'create', 'update', 'patch', 'delete', 'deletecollection'];
const MAX_ROWS = 14;
const CELL_W = 62;
const CELL_H = 22;
/** The widest label column. */
const HEAT_LABEL_W = 226;

/** What the request touched: "pods", "pods/log", or the path for non-resource requests ("/healthz"). */
function target(r: AnalyzedRequest): string {
  const k = r.kube;
  if (!k.isResourceRequest) return (r.exchange.path ?? '').split('?')[0] || '/';
  return k.subresource ? `${k.resource}/${k.subresource}` : k.resource ?? '';
}

export function heatMap(view: ReportView): string {
  const cells = new Map<string, Map<string, number>>();
  const verbs = new Set<string>();
  for (const r of view.report.requests) {
    const t = target(r);
    verbs.add(r.kube.verb);
    const row = cells.get(t) ?? new Map<string, number>();
    row.set(r.kube.verb, (row.get(r.kube.verb) ?? 0) + 1);
    cells.set(t, row);
  }
  if (cells.size === 0) return '<p class="muted">No decrypted request.</p>';
  const columns = [...VERBS.filter((v) => verbs.has(v)), ...[...verbs].filter((v) => !VERBS.includes(v)).sort()];
  const total = (row: Map<string, number>): number => [...row.values()].reduce((a, b) => a + b, 0);
  let rows = [...cells.entries()].sort((a, b) => total(b[1]) - total(a[1]) || a[0].localeCompare(b[0]));
  if (rows.length > MAX_ROWS) {
    const rest = new Map<string, number>();
    for (const [, row] of rows.slice(MAX_ROWS - 1)) for (const [v, n] of row) rest.set(v, (rest.get(v) ?? 0) + n);
    rows = [...rows.slice(0, MAX_ROWS - 1), [`${rows.length - MAX_ROWS + 1} others`, rest]];
  }
  const max = Math.max(...rows.flatMap(([, row]) => [...row.values()]));
  // The label column as wide as the longest label needs (7 px a character at 12 px), within bounds.
  const labelW = Math.min(HEAT_LABEL_W, 16 + 7 * Math.max(...rows.map(([name]) => Math.min(30, [...name].length))));
  const width = labelW + columns.length * CELL_W + 4;
  const height = 26 + rows.length * CELL_H + 4;
  const out = [`<svg class="chart heat" viewBox="0 0 ${width} ${height}" width="${width}" role="img" aria-label="Requests by verb and resource">`];
  columns.forEach((v, j) => out.push(`<text class="verb" x="${px(labelW + j * CELL_W + CELL_W / 2)}" y="16" text-anchor="middle">${esc(v)}</text>`));
  rows.forEach(([name, row], i) => {
    const y = 26 + i * CELL_H;
    const l = label(name, 30);
    out.push(`<text class="name" x="${labelW - 8}" y="${px(y + 15)}" text-anchor="end"><title>${l.full}</title>${l.shown}</text>`);
    columns.forEach((v, j) => {
      const n = row.get(v) ?? 0;
      const cx = labelW + j * CELL_W;
      if (n === 0) {
        out.push(`<rect class="cell empty" x="${cx + 1}" y="${y + 1}" width="${CELL_W - 2}" height="${CELL_H - 2}"/>`);
        return;
      }
      // Square-root scale: one busy cell must not wash out the others.
      const level = Math.max(1, Math.ceil(Math.sqrt(n / max) * 5));
      out.push(`<g class="cell l${level}"><title>${esc(`${v} ${name}: ${n}`)}</title><rect x="${cx + 1}" y="${y + 1}" width="${CELL_W - 2}" height="${CELL_H - 2}"/>`);
      out.push(`<text x="${px(cx + CELL_W / 2)}" y="${px(y + 15)}" text-anchor="middle">${n}</text></g>`);
    });
  });
  out.push('</svg>');
  return out.join('');
}
