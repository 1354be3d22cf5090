/**
 * The expiry timeline: one row per credential, its validity as a bar and its notAfter as a mark coloured
 * by state, on a time axis around the reference time with the capture and "now" marked and the
 * --expiring-within window shaded. The axis shows the window and what is near it; credentials expiring
 * long after (or having expired long before) sit at the edge with an arrow and their date.
 * x is in percent of the chart's width (see svg.ts), y in pixels.
 */
import { count } from '../../util/count.js';
import { esc } from './escape.js';
import { DAY_MS, durationText } from '../timeLeft.js';
import { day, utc } from './format.js';
import { label, pct, px, ticks, timeScale } from './svg.js';
import type { ReportView, TimelineMark } from './view.js';

/** The track, in percent of the width; names are written left of it. */
const TRACK_FROM = 22;
const TRACK_TO = 98.5;
const TOP = 40;
const ROW_H = 26;
/** A scanner trying thousands of tokens must not make the chart thousands of rows tall. */
const MAX_ROWS = 40;
const MAX_SERVER_ROWS = 8;

function domain(view: ReportView, all: TimelineMark[]): [number, number] {
  const ref = view.referenceMs;
  const w = Math.max(view.windowMs, DAY_MS);
  const expiries = all.flatMap((c) => (c.notAfterMs === null ? [] : [c.notAfterMs]));
  const earliest = Math.min(ref - 0.1 * w, view.captureStartMs, ...expiries.filter((t) => t >= ref - 1.5 * w));
  const latest = Math.max(ref + 1.25 * w, ...expiries.filter((t) => t <= ref + 3 * w));
  const pad = (latest - earliest) * 0.03;
  return [earliest - pad, latest + pad];
}

const tickLabel = (ms: number, step: number): string => {
  const d = new Date(ms);
  const date = d.toLocaleDateString('en-US', { month: 'short', day: 'numeric', timeZone: 'UTC' });
  if (step < DAY_MS) return `${date} ${d.toISOString().slice(11, 16)}`;
  return step >= 365 * DAY_MS ? String(d.getUTCFullYear()) : date;
};

/** An arrow at the edge of the axis for a date beyond it, pointing its way. */
const arrow = (x: number, y: number, right: boolean): string =>
  `<svg x="${pct(x)}" y="${px(y)}" overflow="visible"><path class="mark" d="${right ? 'M-10 -7L0 0L-10 7Z' : 'M10 -7L0 0L10 7Z'}"/></svg>`;

export function expiryTimeline(view: ReportView): string {
  // Anonymous requests carry no credential to draw. The most urgent come first; the rest are in the table.
  const credentials = view.identities.filter((v) => v.identity.kind !== 'anonymous');
  const rows: TimelineMark[] = [...credentials.slice(0, MAX_ROWS), ...view.serverCertificates.slice(0, MAX_SERVER_ROWS)];
  if (rows.length === 0) return '<p class="muted">No certificate was seen (no decrypted handshake with one).</p>';
  const more = credentials.length - Math.min(credentials.length, MAX_ROWS);
  const [from, to] = domain(view, rows);
  const x = timeScale(from, to, TRACK_FROM, TRACK_TO);
  const height = TOP + rows.length * ROW_H + 8;
  const out: string[] = [];
  out.push(`<svg class="chart timeline" width="100%" height="${height}" role="img" aria-label="Credential expiry timeline">`);

  for (let i = 0; i < rows.length; i += 2) out.push(`<rect class="stripe" x="0" y="${TOP + i * ROW_H}" width="100%" height="${ROW_H}"/>`);
  const wx0 = x(view.referenceMs);
  const wx1 = x(view.referenceMs + view.windowMs);
  out.push(`<rect class="window" x="${pct(wx0)}" y="${TOP - 6}" width="${pct(Math.max(0.1, wx1 - wx0))}" height="${height - TOP + 2}"><title>expiring within ${view.report.expiringWithinDays} days of ${esc(utc(view.referenceMs))}</title></rect>`);
  out.push(`<text class="window-label" x="${pct(wx1)}" dx="-4" y="12" text-anchor="end">window: ${view.report.expiringWithinDays} days</text>`);
  const { step, at } = ticks(from, to, 8);
  for (const t of at) {
    out.push(`<line class="grid" x1="${pct(x(t))}" x2="${pct(x(t))}" y1="${TOP - 6}" y2="${height - 4}"/>`);
    out.push(`<text class="tick" x="${pct(x(t))}" y="${TOP - 10}" text-anchor="middle">${esc(tickLabel(t, step))}</text>`);
  }

  rows.forEach((c, i) => {
    const y = TOP + i * ROW_H + ROW_H / 2;
    const name = label(c.server ? `server ${c.name}` : c.name, 34);
    const phrase = c.badges.map((b) => b.text).join(' · ');
    out.push(c.link ? `<a href="${c.link}" class="row ${c.state}">` : `<g class="row ${c.state}">`);
    out.push(`<title>${name.full}: ${esc(phrase)}${c.notAfterMs === null ? '' : ` (${esc(utc(c.notAfterMs))})`}</title>`);
    out.push(`<text class="name" x="8" y="${px(y + 4)}">${name.shown}</text>`);
    if (c.notAfterMs === null) {
      // No expiry to place (a legacy token never expires; an opaque token does not say): at the far end.
      out.push(`<circle class="mark open" cx="${pct(TRACK_TO)}" cy="${px(y)}" r="6" transform="translate(-6 0)"/>`);
      out.push(`<text class="phrase" x="${pct(TRACK_TO)}" dx="-20" y="${px(y + 4)}" text-anchor="end">${esc(phrase)}</text>`);
      out.push(c.link ? '</a>' : '</g>');
      return;
    }
    const mx = x(c.notAfterMs);
    if (c.notBeforeMs !== null) {
      const bx0 = x(c.notBeforeMs);
      out.push(`<rect class="validity" x="${pct(bx0)}" y="${px(y - 3)}" width="${pct(Math.max(0.1, mx - bx0))}" height="6" rx="3"/>`);
    }
    const beyond = c.notAfterMs > to ? 'right' : c.notAfterMs < from ? 'left' : null;
    if (beyond) out.push(arrow(mx, y, beyond === 'right'));
    else if (c.server) out.push(`<rect class="mark" x="${pct(mx)}" y="${px(y - 6)}" width="12" height="12" transform="translate(-6 0)"/>`);
    else out.push(`<circle class="mark" cx="${pct(mx)}" cy="${px(y)}" r="7"/>`);
    const text = beyond ? `${phrase} (${day(c.notAfterMs)})` : phrase;
    // The phrase sits beside the mark, on the side with room for it.
    const leftSide = mx > TRACK_TO - 22;
    out.push(`<text class="phrase" x="${pct(mx)}" dx="${leftSide ? -14 : 12}" y="${px(y + 4)}" text-anchor="${leftSide ? 'end' : 'start'}">${esc(text)}</text>`);
    out.push(c.link ? '</a>' : '</g>');
  });

  // Markers last: on top of everything. "now" is clamped to the edge when the capture is old.
  const cx0 = x(view.captureStartMs);
  const cx1 = x(view.captureEndMs);
  const nx = x(view.nowMs);
  const together = Math.abs(nx - cx1) < 5;
  out.push(`<rect class="capture" x="${pct(cx0)}" y="${TOP - 6}" width="${pct(Math.max(0.2, cx1 - cx0))}" height="${height - TOP + 2}"><title>capture: ${esc(utc(view.captureStartMs))} to ${esc(utc(view.captureEndMs))}</title></rect>`);
  if (!together) {
    out.push(`<line class="now" x1="${pct(nx)}" x2="${pct(nx)}" y1="${TOP - 6}" y2="${height - 4}"><title>now: ${esc(utc(view.nowMs))}</title></line>`);
    out.push(`<text class="marker-label now" x="${pct(nx)}" y="12" text-anchor="middle">now</text>`);
  }
  const captureText = together ? 'capture · now' : `capture (${durationText((view.nowMs - view.captureEndMs) / 1000)} ago)`;
  out.push(`<text class="marker-label capture" x="${pct(cx1)}" y="12" text-anchor="middle">${esc(captureText)}</text>`);
  out.push('</svg>');
  if (more) out.push(`<p class="muted">${count(more, 'more credential')}, expiring later: see the identities table.</p>`);
  return out.join('');
}
