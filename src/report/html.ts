/**
 * The HTML report: one self-contained file that answers "which credential expires, who uses it, from
 * where" in its first screen — the credentials to act on, an expiry timeline, activity lanes and a
 * verb × resource heat map (hand-made inline SVG), then sortable, filterable tables and the connections
 * that could not be read with what to do about them. No network: system fonts, no external resource, and a
 * Content-Security-Policy that allows nothing but the page's own style sheet and script (by hash).
 * Every captured string is escaped (html/escape.ts); no secret is ever part of the model.
 */
import { createHash } from 'node:crypto';
import { count } from '../util/count.js';
import type { Report } from './model.js';
import { activityLanes, heatMap } from './html/activity.js';
import { esc } from './html/escape.js';
import { span, utc } from './html/format.js';
import { SCRIPT } from './html/script.js';
import { attention, connectionsTable, identitiesTable, problems, readable, requestsTable } from './html/sections.js';
import { STYLE } from './html/style.js';
import { expiryTimeline } from './html/timeline.js';
import { reportView, type ReportView } from './html/view.js';
import { clockMs } from './timeLeft.js';

export interface HtmlOptions {
  /** The time the "now" marker shows; default: the time of rendering. */
  nowSeconds?: number;
}

const sha256 = (text: string): string => createHash('sha256').update(text, 'utf8').digest('base64');
const CSP = `default-src 'none'; style-src 'sha256-${sha256(STYLE)}'; script-src 'sha256-${sha256(SCRIPT)}'; base-uri 'none'; form-action 'none'`;


function header(view: ReportView): string {
  const r = view.report;
  const unread = r.connections.filter((c) => !c.decrypted).length;
  const inState = (state: string): number => view.identities.filter((c) => c.state === state).length;
  const chips = [
    `<span class="chip">${count(view.identities.length, 'identity', 'identities')}</span>`,
    inState('expired') ? `<span class="chip bad">${inState('expired')} expired</span>` : '',
    inState('rejected') ? `<span class="chip bad">${inState('rejected')} rejected</span>` : '',
    inState('legacy') ? `<span class="chip warn">${inState('legacy')} legacy</span>` : '',
    inState('expiring') ? `<span class="chip warn">${inState('expiring')} expiring within ${r.expiringWithinDays} days</span>` : '',
    `<span class="chip">${count(r.connections.length, 'connection')}</span>`,
    unread ? `<a class="chip bad" href="#unread">${unread} not decrypted</a>` : '',
    `<span class="chip">${count(r.requests.length, 'request')}</span>`,
  ];
  const from = { capture: 'the start of the capture', given: 'the time given (--now)', now: 'the time of the analysis' }[r.referenceTimeSource];
  return `<header><h1>gokeylog: credentials, who uses them, from where</h1><div class="facts">` +
    `<span>capture <b>${esc(utc(view.captureStartMs))}</b> for ${esc(span(view.captureEndMs - view.captureStartMs))}</span>` +
    `<span>expiry measured from ${from}, <b>${esc(utc(view.referenceMs))}</b></span>` +
    `<span>window <b>${r.expiringWithinDays} days</b> (--expiring-within)</span>` +
    `<span>report made ${esc(utc(view.nowMs))}</span></div>` +
    `<div class="chips">${chips.join('')}</div></header>`;
}

const LEGEND = `<div class="legend"><span><i class="expired"></i>expired</span><span><i class="rejected"></i>rejected by the server</span>` +
  `<span><i class="legacy"></i>legacy token (never expires)</span><span><i class="expiring"></i>expires within the window</span>` +
  `<span><i class="valid"></i>valid beyond it</span><span><i class="window"></i>window</span><span><i class="capture"></i>capture</span>` +
  `<span>■ server certificate</span></div>`;

export function renderHtml(report: Report, options: HtmlOptions = {}): string {
  // The HTML draws in ms (Date's unit): converted here, at its edge.
  const view = reportView(report, options.nowSeconds === undefined ? Date.now() : clockMs(options.nowSeconds));
  const unread = report.connections.filter((c) => !readable(c)).length;
  return [
    '<!DOCTYPE html>',
    `<html lang="en"><head><meta charset="utf-8"><meta http-equiv="Content-Security-Policy" content="${CSP}">`,
    '<meta name="viewport" content="width=device-width, initial-scale=1"><meta name="referrer" content="no-referrer">',
    `<title>gokeylog: ${view.attention.length ? `${count(view.attention.length, 'credential')} to act on` : 'no credential to act on'}</title>`,
    `<style>${STYLE}</style></head><body>`,
    header(view),
    `<section id="attention"><h2>Needs attention<span class="muted">expired, rejected, legacy or expiring within ${report.expiringWithinDays} days; most urgent first</span></h2>${attention(view)}</section>`,
    `<section id="timeline"><h2>Expiry timeline</h2>${expiryTimeline(view)}${LEGEND}</section>`,
    `<section id="activity" class="charts"><div><h2>Requests over the capture, per identity</h2>${activityLanes(view)}</div>` +
      `<div><h2>Verb × resource</h2>${heatMap(view)}</div></section>`,
    `<section><h2 id="identities-title">Identities<span class="muted">sorted by time left; click a column to sort, type to filter</span></h2>${identitiesTable(view)}</section>`,
    `<section id="unread"><h2>Connections not read${unread ? `<span class="muted">${count(unread, 'connection')}</span>` : ''}</h2>${problems(view)}</section>`,
    `<section><h2>Connections</h2>${connectionsTable(view)}</section>`,
    `<section><h2>Requests</h2>${requestsTable(view)}</section>`,
    `<script>${SCRIPT}</script>`,
    '</body></html>',
    '',
  ].join('\n');
}
