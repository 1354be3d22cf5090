/**
 * The report's sections other than the charts: the "needs attention" answer at the top, the identities,
 * connections and requests tables, and the connections that could not be read with what to do about them.
 */
import { count } from '../../util/count.js';
import type { AnalyzedConnection, Identity } from '../model.js';
import { callName, midstreamNote } from '../model.js';
import { AFTER_COMMAS, esc, escWrap } from './escape.js';
import { clock, utc } from './format.js';
import { table, type Row } from './table.js';
import type { IdentityView, ReportView, TimelineMark } from './view.js';

const TOP_CALLS = 4;
/** Answers listed at the top; the identities table has them all. */
const MAX_ANSWERS = 30;
/** More rows than this make the page slow to open; the JSON output has them all. */
const MAX_ROWS = 5000;

const cutNote = (shown: number, all: number): string => (all > shown ? `the first ${shown} of ${all}; <code>--json</code> lists them all` : '');

const topCalls = (calls: Record<string, number>, n: number): [string, number][] =>
  Object.entries(calls).sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0])).slice(0, n);

const badgeHtml = (c: TimelineMark): string => c.badges.map((b) => `<span class="badge ${b.state}">${esc(b.text)}</span>`).join('');

/** The credential id, visually cut to its start but whole in the text (copy, find and filter see all of it). */
const credentialId = (c: IdentityView): string => `<code class="credid" title="${esc(c.credentialId)}">${esc(c.credentialId)}</code>`;

/** One item a line; with `links`, each item links there (in-page anchors made here, never from the data). */
const lines = (items: string[], links?: string[]): string =>
  items.map((item, n) => `<span class="line">${links ? `<a href="${links[n]}">${escWrap(item)}</a>` : escWrap(item)}</span>`).join('');
const sub = (label: string, value: string | null | undefined, after?: RegExp): string =>
  value ? `<span class="sub">${label} ${escWrap(value, after)}</span>` : '';

const seconds = (s: number): string => clock(s * 1000).slice(0, 8);
const seen = (i: Identity): string =>
  i.firstSeenSeconds === null ? '' : `<span class="line">${seconds(i.firstSeenSeconds)}</span>${i.lastSeenSeconds !== null && i.lastSeenSeconds !== i.firstSeenSeconds ? `<span class="line">–${seconds(i.lastSeenSeconds)}</span>` : ''}`;

const requestsLink = (c: IdentityView): string => {
  const n = c.identity.requests;
  return `<span class="line">${n ? `<a href="#requests" data-show="requests" data-term="${esc(c.filterTerm)}" class="count">${count(n, 'request')}</a>` : 'no requests'}</span>`;
};

/** Links to connections, the first few: an identity may hold thousands. */
const MAX_LINKS = 40;
const connectionLinks = (ids: number[]): string =>
  ids.slice(0, MAX_LINKS).map((id) => `<a href="#conn-${id}">${id}</a>`).join(' ') + (ids.length > MAX_LINKS ? ` and ${ids.length - MAX_LINKS} more` : '');

/** One line per credential to act on, most urgent first: the answer before any table. */
export function attention(view: ReportView): string {
  if (view.attention.length === 0) {
    return `<p class="all-good">No credential expires within ${view.report.expiringWithinDays} days of ${esc(utc(view.referenceMs))}, was refused, or is a legacy token.</p>`;
  }
  const items = view.attention.slice(0, MAX_ANSWERS).map((c) => {
    const i = c.identity;
    const calls = topCalls(i.calls, 2).map(([call, n]) => `<span class="nw">${esc(call)} ×${n}</span>`).join(', ');
    const what = [
      i.groups.length ? `groups ${escWrap(i.groups.join(', '))}` : escWrap(i.description),
      `from <b>${i.clients.length ? escWrap(i.clients.join(', ')) : 'no client seen'}</b>`,
      `${count(i.requests, 'request')} on ${count(i.connectionIds.length, 'connection')}${calls ? `: ${calls}` : ''}`,
    ];
    return `<li class="${c.state}" data-cred="${esc(c.anchor)}"><div class="l1"><a class="who" href="#${esc(c.anchor)}">${badgeHtml(c)}<strong>${escWrap(c.name)}</strong></a>` +
      `${credentialId(c)}</div><div class="l2">${what.map((w) => `<span>${w}</span>`).join('')}</div></li>`;
  });
  const more = view.attention.length - items.length;
  return `<ol class="attention">${items.join('')}</ol>${more ? `<p class="muted">and ${more} more in the identities table</p>` : ''}`;
}

/** Where a certificate identity was read, as the text report's FROM column and JSON's identityFrom say it. */
const IDENTITY_FROM = { handshake: 'handshake in the capture', 'live process': 'live process (analyze --conns)' } as const;
const identityFrom = (i: Identity): string =>
  i.sources.length ? `<span class="sub from">from ${i.sources.map((s) => `<span data-from="${esc(s)}">${esc(IDENTITY_FROM[s])}</span>`).join(', ')}</span>` : '';

/** What the credential says about itself: kind, id, serial and issuer; a token's audience, pod and node. */
function credentialCell(c: IdentityView): string {
  const i = c.identity;
  const t = i.token;
  const k8s = t?.kubernetes;
  return `<span class="sub">${escWrap(i.description)}</span>${credentialId(c)}` + identityFrom(i) + sub('serial', i.serialNumber) + sub('issuer', i.issuer, AFTER_COMMAS) +
    sub('audience', t?.aud.join(', ')) + sub('pod', k8s?.pod) + sub('node', k8s?.node) + sub('secret', k8s?.secret);
}

export function identitiesTable(view: ReportView): string {
  const rows: Row[] = view.identities.slice(0, MAX_ROWS).map((c) => {
    const i = c.identity;
    const notAfter = i.notAfter ? `<span class="sub nw">${esc(utc(Date.parse(i.notAfter)))}</span>` : '';
    return {
      id: c.anchor,
      cls: c.state,
      terms: c.filterTerm,
      cells: [
        { html: badgeHtml(c) + notAfter, sort: i.rejected ? -1e15 : i.secondsLeft ?? 1e15 },
        { html: `<strong>${escWrap(c.name)}</strong><span class="sub">${escWrap(i.groups.join(', '))}</span>`, sort: c.name },
        credentialCell(c),
        { html: `${lines(i.clients)}<span class="sub">conn ${connectionLinks(i.connectionIds)}</span><span class="sub">${seen(i)}</span>`, sort: i.clients.join(' ') },
        { html: `${requestsLink(c)}<span class="line">${statuses(i.statuses)}</span>${lines(topCalls(i.calls, TOP_CALLS).map(([call, n]) => `${call} ×${n}`))}`, sort: i.requests },
        lines(i.userAgents),
      ],
    };
  });
  return table('identities', 'identities', [
    { title: 'Time left', cls: 'badges' }, { title: 'User and groups' }, { title: 'Credential', cls: 'cred' }, { title: 'From, seen (UTC)', cls: 'nowrap' },
    { title: 'Requests, top calls', numeric: true, cls: 'calls' }, { title: 'User agents', cls: 'ua' },
  ], rows, cutNote(rows.length, view.identities.length));
}

/** Whether the connection was read in full: decrypted, and nothing stopped the HTTP decoding. */
export const readable = (c: AnalyzedConnection): boolean => c.decrypted && !c.reason && !c.httpError && !c.rejected;

function decryptedCell(c: AnalyzedConnection): string {
  const how = (c.midstream ? `<span class="sub">${escWrap(midstreamNote(c.midstream))}</span>` : '') +
    (c.identitySource === 'live process' ? '<span class="sub">identity read from the live process</span>' : '');
  if (c.rejected) return `<span class="rej">yes; refused: ${escWrap(c.rejected)}</span>${how}`;
  if (c.decrypted && !c.reason && !c.httpError) return `<span class="ok">yes</span>${how}`;
  if (c.decrypted) return `<span class="partial">partly: ${escWrap(c.reason ?? c.httpError)}</span>${how}`;
  return `<span class="no">no: ${escWrap(c.reason ?? 'unknown')}</span>${how}`;
}

const statusClass = (status: string): string => (/^\d{3}$/.test(status) ? `s${status[0]}` : 'sx');

/** Response statuses of an identity's requests, coloured, most frequent first: "200 ×40 404 ×4". */
const statuses = (counts: Record<string, number>): string =>
  Object.entries(counts).sort((a, b) => b[1] - a[1]).map(([status, n]) => `<span class="nw"><span class="status ${statusClass(status)}">${esc(status)}</span> ×${n}</span>`).join(' ');

export function connectionsTable(view: ReportView): string {
  const all = view.report.connections;
  const rows: Row[] = all.slice(0, MAX_ROWS).map((c) => {
    const identities = view.identitiesOfConnection(c);
    return {
      id: `conn-${c.id}`,
      cls: readable(c) ? '' : 'problem',
      terms: [`conn:${c.id}`, ...identities.map((i) => i.filterTerm)].join(' '),
      cells: [
        { html: String(c.id), sort: c.id },
        { html: esc(clock(c.startTimeSeconds * 1000)), sort: c.startTimeSeconds },
        { html: `${esc(`${c.client.ip}:${c.client.port}`)}<span class="sub">→ ${esc(`${c.server.ip}:${c.server.port}`)}</span>`, sort: c.client.ip },
        escWrap(c.sni ?? ''),
        `${esc([c.tlsVersion, c.alpn].filter(Boolean).join(' · '))}<span class="sub">${esc(c.cipherSuite ?? '')}</span>`,
        identities.length ? lines(identities.map((i) => i.name), identities.map((i) => `#${i.anchor}`)) : escWrap(c.clientCertificate?.commonName ?? ''),
        decryptedCell(c),
        { html: c.requestCount ? `<a href="#requests" data-show="requests" data-term="conn:${c.id}">${c.requestCount}</a>` : '0', sort: c.requestCount },
        { html: `<span class="line">↑ ${c.bytesToServer}</span><span class="line">↓ ${c.bytesToClient}</span>`, sort: c.bytesToServer + c.bytesToClient },
      ],
    };
  });
  return table('connections', 'connections', [
    { title: 'ID', numeric: true }, { title: 'Start (UTC)', cls: 'nowrap' }, { title: 'Client → server', cls: 'nowrap' }, { title: 'SNI' },
    { title: 'TLS', cls: 'nowrap' }, { title: 'Identity' }, { title: 'Decrypted' }, { title: 'Requests', numeric: true },
    { title: 'Bytes', numeric: true, cls: 'nowrap' },
  ], rows, cutNote(rows.length, all.length));
}

export function requestsTable(view: ReportView): string {
  const all = view.report.requests;
  const shown = all.slice(0, MAX_ROWS);
  const rows: Row[] = shown.map((r) => {
    const e = r.exchange;
    const identity = view.identityOfRequest(r);
    return {
      terms: `conn:${r.connectionId}${identity ? ` ${identity.filterTerm}` : ''}`,
      cells: [
        { html: esc(clock(e.firstTimeSeconds * 1000)), sort: e.firstTimeSeconds },
        { html: `<a href="#conn-${r.connectionId}">${r.connectionId}</a>`, sort: r.connectionId },
        identity ? `<a href="#${identity.anchor}">${escWrap(identity.name)}</a>` : escWrap(r.user ?? ''),
        { html: `<b>${esc(e.method ?? '')}</b> <span class="path">${escWrap(e.path ?? '')}</span>`, sort: e.path ?? '' },
        { html: `<span class="status ${statusClass(String(e.status ?? ''))}">${esc(e.status ?? e.reset ?? '—')}</span>`, sort: e.status ?? 0 },
        `${escWrap(r.kube.isResourceRequest ? callName(r) : '')}<span class="sub">${escWrap(r.kube.namespace ?? '')}</span>`,
        escWrap(e.userAgent ?? ''),
        { html: String(e.responseBodyBytes), sort: e.responseBodyBytes },
      ],
    };
  });
  return table('requests', 'requests', [
    { title: 'Time (UTC)', cls: 'nowrap' }, { title: 'Conn', numeric: true }, { title: 'Identity' }, { title: 'Request', cls: 'pathcol' },
    { title: 'Status', numeric: true }, { title: 'Kubernetes' }, { title: 'User agent', cls: 'ua' }, { title: 'Bytes', numeric: true },
  ], rows, cutNote(shown.length, all.length));
}

/** Why a connection could not be read, and what the operator can do about it. */
const ADVICE: Record<string, string> = {
  'no keys for client random':
    'No key for these connections in the key logs or the capture. They began before the key log was written (attach <code>gokeylog keylog</code> or <code>capture</code> before the clients connect, or wait for them to reconnect), or the keys came from another process: pass the server\'s key log with <code>--keylog</code>.',
  'handshake not captured':
    'The capture began after the TLS handshake (long-lived connections such as watches). Capture before the client connects, or make it reconnect (restart it).',
  'stream incomplete (lost segments)':
    'Packets are missing from the capture (the capture buffer overflowed or the host was loaded). Capture with a narrower filter or a bigger buffer; requests up to the gap are listed.',
  'unsupported cipher suite': 'gokeylog does not decrypt this cipher suite; Wireshark/tshark may, with the same key log.',
  'not TLS': 'Plain-text traffic: requests on it are read as they are.',
};

function advice(view: ReportView, conns: AnalyzedConnection[]): string {
  const c = conns[0]!;
  if (c.rejected) {
    const who = [...new Set(conns.flatMap((x) => view.identitiesOfConnection(x).map((i) => i.name)))];
    return `The server refused the client's certificate in the handshake (TLS alert ${esc(c.rejected)})${who.length ? ` of ${who.map((n) => `<b>${escWrap(n)}</b>`).join(', ')}` : ''}: ` +
      'issue a new one (or fix its CA), install it and restart the client at the addresses below. Until then it keeps failing.';
  }
  if (!c.reason) return 'The HTTP decoding of the connection stopped here; the requests before it are listed.';
  return ADVICE[c.reason] ?? '';
}

export function problems(view: ReportView): string {
  const groups = new Map<string, AnalyzedConnection[]>();
  for (const c of view.report.connections) {
    if (readable(c)) continue;
    const reason = c.rejected ? `refused by the server: ${c.rejected}` : c.reason ?? c.httpError ?? 'unknown';
    const group = groups.get(reason);
    if (group) group.push(c);
    else groups.set(reason, [c]);
  }
  if (groups.size === 0) return '<p class="all-good">Every connection was decrypted and read to its end.</p>';
  const items = [...groups.entries()].sort((a, b) => b[1].length - a[1].length).map(([reason, conns]) => {
    const clients = [...new Set(conns.map((c) => c.client.ip))];
    return `<li class="${conns[0]!.rejected ? 'rejected' : ''}"><h3><span class="count-badge">${conns.length}</span> ${escWrap(reason)}</h3>` +
      `<p class="advice">${advice(view, conns)}</p>` +
      `<p class="sub">from ${escWrap(clients.join(', '))} · connections ${connectionLinks(conns.map((c) => c.id))}</p></li>`;
  });
  return `<ul class="problems">${items.join('')}</ul>`;
}
