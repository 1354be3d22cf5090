/**
 * The text report, answers first: one line per credential that needs attention (expired, expiring within
 * the window, refused by the server, a legacy token that never expires), sorted by time left and naming who
 * uses it and from where; then a compact identities table; connections and requests only when asked.
 * Tables are aligned columns (columns.ts): fitted to the terminal's width on a terminal, plain for pipes.
 * Every wire string is escaped (columns.ts, escapeControl); rendering is one pass over the report.
 */
import { escapeControl } from '../util/terminal.js';
import { cut, delimitedLines, displayWidth, splitAt, tableLines, wrap, type Column, type RowStyle } from './columns.js';
import { isoTime } from './json.js';
import { callName, midstreamNote, type AnalyzedConnection, type AnalyzedRequest, type Identity, type Report } from './model.js';
import { durationText } from './timeLeft.js';
import { count } from '../util/count.js';

export interface TextOptions {
  /** ANSI colours (a terminal without NO_COLOR). */
  color: boolean;
  /** The terminal's width; undefined when stdout is no terminal (nothing is cut then). */
  width?: number;
  /** Header lines of tables (--no-headers turns them off). */
  headers?: boolean;
  /** -o wide: every column, and the connections and requests tables. */
  wide?: boolean;
  requests?: boolean;
  connections?: boolean;
  /** The capture files, for the header line. */
  sources?: string[];
}

/** Calls, user agents and client addresses named per answer line. */
const TOP = 3;

export function renderText(report: Report, options: TextOptions): string {
  let text = '';
  for (const line of textLines(report, options)) text += `${line}\n`;
  return text;
}

/** The text report line by line (no newlines), so that 100k-row tables are written as they are made. */
export function* textLines(report: Report, options: TextOptions): Generator<string> {
  const o = { headers: true, wide: false, requests: false, connections: false, ...options };
  let blank = false; // a blank line is held back until something follows it
  const lines = function* (...sections: Iterable<string>[]): Generator<string> {
    for (const section of sections) for (const line of section) {
      if (line === '') {
        blank = true;
        continue;
      }
      if (blank) yield '';
      blank = false;
      yield line;
    }
  };
  yield* lines(header(report, o), ['']);

  const answers = report.identities.filter((i) => i.attention.length > 0);
  if (answers.length) {
    yield* lines([title(`Needs attention (${answers.length}):`, o)]);
    for (const i of answers) yield* lines(fitLine(answerLine(i, report), o.width, '    '));
    yield* lines(['']);
  }
  const serverWarnings = report.warnings.filter((w) => w.kind === 'server');
  for (const w of serverWarnings) yield* lines(fitLine(`! ${escapeControl(w.message)}`, o.width, '    '));
  if (serverWarnings.length) yield* lines(['']);
  for (const note of sameNameNotes(report.identities)) yield* lines(fitLine(note, o.width, '    '), ['']);

  yield* lines([title(`Identities (${report.identities.length}):`, o)]);
  if (report.identities.length === 0) yield* lines(['  none seen (no decrypted request or client certificate)']);
  else {
    const identities = identitiesByIssuer(report.identities);
    yield* lines(tableLines(identityColumns(o.wide), identities.map((i) => identityRow(i, o.wide)), tableOptions(o, (r) => identityStyle(identities[r]!))));
  }
  yield* lines(['']);

  if (o.connections || o.wide) {
    yield* lines([title(`Connections (${report.connections.length}):`, o)]);
    yield* lines(tableLines(connectionColumns(o.wide), report.connections.map((c) => connectionRow(c, o.wide)), tableOptions(o, (r) => connectionStyle(report.connections[r]!))), ['']);
  } else {
    const unread = undecrypted(report.connections);
    if (unread) yield* lines(fitLine(unread, o.width, '  '), ['']);
    for (const line of joinedMidStream(report.connections)) yield* lines(fitLine(line, o.width, '    '));
    if (report.connections.some((c) => c.midstream)) yield* lines(['']);
  }
  if (o.requests || o.wide) {
    yield* lines([title(`Requests (${report.requests.length}):`, o)]);
    yield* lines(tableLines(requestColumns(o.wide), report.requests.map((r) => requestRow(r, o.wide)), tableOptions(o, (r) => requestStyle(report.requests[r]!))));
  }
}

/** `-o tsv|csv`: one table with every column (identities, or --requests/--connections), line by line. */
export function delimitedReportLines(report: Report, format: 'tsv' | 'csv', options: { headers: boolean; table: 'identities' | 'connections' | 'requests' }): Iterable<string> {
  if (options.table === 'connections') return delimitedLines(format, connectionColumns(true).map((c) => c.header), report.connections.map((c) => connectionRow(c, true, true)), options.headers);
  if (options.table === 'requests') return delimitedLines(format, requestColumns(true).map((c) => c.header), report.requests.map((r) => requestRow(r, true)), options.headers);
  return delimitedLines(format, identityColumns(true, true).map((c) => c.header), identitiesByIssuer(report.identities).map((i) => identityRow(i, true, true)), options.headers);
}

type Options = Required<Omit<TextOptions, 'width' | 'sources'>> & Pick<TextOptions, 'width' | 'sources'>;

const tableOptions = (o: Options, rowStyle: (row: number) => RowStyle) => ({ width: o.width, headers: o.headers, color: o.color, rowStyle });

function title(text: string, o: Options): string {
  return o.color ? `\u001b[1m${text}\u001b[0m` : text;
}


function header(report: Report, o: Options): string[] {
  const decrypted = report.connections.filter((c) => c.decrypted && !c.rejected).length;
  const refused = report.connections.filter((c) => c.rejected).length;
  const sources = o.sources?.length ? `${o.sources.map((s) => (s === '-' ? 'standard input' : escapeControl(s))).join(', ')}: ` : '';
  const from = report.referenceTimeSource === 'capture' ? 'the start of the first capture' : report.referenceTimeSource === 'given' ? 'the time given by --now' : 'now';
  return [
    ...fitLine(`${sources}${count(report.connections.length, 'connection')} (${decrypted} decrypted${refused ? `, ${refused} refused by the server` : ''}), ${count(report.requests.length > 0 ? report.requests.length : report.identities.reduce((n, i) => n + i.requests, 0), 'request')}, ${count(report.identities.length, 'identity', 'identities')}.`, o.width, '  '),
    ...fitLine(`Expiry measured from ${report.referenceTime} (${from}); window ${count(report.expiringWithinDays, 'day')}.`, o.width, '  '),
  ];
}

/** A line as is when not on a terminal (grep wants one line per credential); wrapped with an indent on one. */
function fitLine(line: string, width: number | undefined, indent: string): string[] {
  if (width === undefined || displayWidth(line) <= width) return [line];
  const [first, rest] = splitAt(line, width);
  return [first, ...wrap(rest, Math.max(10, width - indent.length)).map((l) => indent + l)];
}

function state(i: Identity): string {
  const parts: string[] = [];
  if (i.secondsLeft !== null) parts.push(i.expired ? `EXPIRED ${durationText(i.secondsLeft)} ago` : `expires in ${durationText(i.secondsLeft)}`);
  if (i.rejected) parts.push(`rejected: ${i.rejected}`);
  if (i.legacy) parts.push('legacy, never expires');
  return parts.join(', ');
}

const credentialName = (i: Identity): string =>
  i.kind === 'x509' ? `client certificate ${i.credentialId}` : i.fingerprint ? `${i.description} sha256:${i.fingerprint}${i.credentialId ? ` ${i.credentialId}` : ''}` : i.description;

const who = (i: Identity): string => `${i.user ?? '(user unknown: only the server can resolve an opaque token)'}${i.groups.length ? ` [${i.groups.join(', ')}]` : ''}`;

function topCalls(i: Identity, n: number): string {
  return Object.entries(i.calls).sort((a, b) => b[1] - a[1]).slice(0, n).map(([c, k]) => `${c} ×${k}`).join(', ');
}

const more = (list: string[], n: number): string => (list.length > n ? `${list.slice(0, n).join(', ')} and ${list.length - n} more` : list.join(', '));

/** "20:01:03–20:04:59" on the reference day, full times otherwise. */
function seen(i: Identity): string | null {
  if (i.firstSeenSeconds === null || i.lastSeenSeconds === null) return null;
  const a = isoTime(i.firstSeenSeconds).slice(0, 19);
  const b = isoTime(i.lastSeenSeconds).slice(0, 19);
  return a.slice(0, 10) === b.slice(0, 10) ? `${a.replace('T', ' ')}–${b.slice(11)} UTC` : `${a.replace('T', ' ')} – ${b.replace('T', ' ')} UTC`;
}

function answerLine(i: Identity, report: Report): string {
  const parts = [`! ${state(i)}:`, who(i), `— ${credentialName(i)}`];
  if (i.issuer) parts.push(`issued by ${i.issuer}${i.issuerKeyId ? ` (CA key ${i.issuerKeyId.slice(0, 11)})` : ''}`);
  if (i.notAfter) parts.push(`not after ${i.notAfter}`);
  if (i.clients.length) parts.push(`— from ${more(i.clients, TOP)}`);
  const when = seen(i);
  if (when) parts.push(`seen ${when}`);
  if (i.userAgents.length) parts.push(`— ${more(i.userAgents, TOP)}`);
  parts.push(`— ${count(i.requests, 'request')}${i.requests ? `: ${topCalls(i, TOP)}` : ''}`);
  if (i.connectionIds.length && report.requests.length === 0 && i.requests === 0) parts.push(`on ${count(i.connectionIds.length, 'connection')}`);
  return escapeControl(parts.join(' '));
}

/** The same user name from certificates of different CAs: one of them may be an impostor. */
function sameNameNotes(identities: Identity[]): string[] {
  const byUser = new Map<string, Identity[]>();
  for (const i of identities) {
    if (i.kind !== 'x509' || i.user === null) continue;
    const list = byUser.get(i.user) ?? [];
    list.push(i);
    byUser.set(i.user, list);
  }
  const notes: string[] = [];
  for (const [user, list] of byUser) {
    const cas = new Map<string, Identity[]>();
    for (const i of list) {
      const ca = `${i.issuer ?? '?'}${i.issuerKeyId ? ` (CA key ${i.issuerKeyId.slice(0, 11)})` : ''}`;
      cas.set(ca, [...(cas.get(ca) ?? []), i]);
    }
    if (cas.size < 2) continue;
    const each = [...cas].map(([ca, ids]) => {
      const conns = ids.reduce((n, i) => n + i.connectionIds.length, 0);
      const rejected = ids.map((i) => i.rejected).filter(Boolean);
      return `${ca}: ${count(conns, 'connection')}${rejected.length ? `, rejected: ${rejected.join(', ')}` : ''}`;
    });
    notes.push(escapeControl(`! ${user} presented certificates from ${cas.size} different CAs — ${each.join('; ')}`));
  }
  return notes;
}

/** Identities grouped by issuer (and CA key), certificates first, in the report's order (soonest expiry first) within each. */
function identitiesByIssuer(identities: Identity[]): Identity[] {
  const rank = new Map(identities.map((i, n) => [i, n]));
  const group = (i: Identity): string => `${i.kind === 'x509' ? '0' : '1'}${i.issuer ?? ''}\u0000${i.issuerKeyId ?? ''}`;
  return [...identities].sort((a, b) => group(a).localeCompare(group(b)) || rank.get(a)! - rank.get(b)!);
}

/** Identity columns; on a narrow terminal the ones with the highest `drop` leave first (the answers above name them). */
function identityColumns(wide: boolean, all = false): Column[] {
  const columns: Column[] = [
    { header: 'USER', shrink: 'truncate', min: 24 },
    { header: 'GROUPS', shrink: 'truncate', drop: 4 },
    { header: 'TYPE', drop: 3 },
    { header: 'ISSUER', shrink: 'truncate', drop: 6 },
    { header: 'EXPIRES' },
    { header: 'STATUS', shrink: 'truncate', drop: 2 },
    { header: 'CLIENTS', shrink: 'truncate', drop: 7 },
    { header: 'CONNS', align: 'right', drop: 8 },
    { header: 'REQS', align: 'right', drop: 5 },
    { header: 'FINGERPRINT', shrink: 'truncate', drop: 1 },
    // Where the certificate was read: a handshake in the capture, or the live process (analyze --conns).
    { header: 'FROM', drop: 6 },
  ];
  if (wide) columns.push({ header: 'SERIAL', shrink: 'truncate', drop: 9 }, { header: 'CA KEY ID', shrink: 'truncate', drop: 9 }, { header: 'NOT AFTER', drop: 9 }, { header: 'FIRST SEEN', drop: 10 }, { header: 'LAST SEEN', drop: 10 }, { header: 'USER AGENTS', shrink: 'wrap', drop: 9 }, { header: 'TOP CALLS', shrink: 'wrap', drop: 9 });
  if (all) columns.push({ header: 'CREDENTIAL' }, { header: 'CREDENTIAL ID' });
  return columns;
}

/** The credential's kind in one word, for the TYPE column. */
const TYPES: Record<string, string> = {
  'client certificate': 'x509', 'service-account token': 'sa-token', 'legacy service-account token': 'legacy-sa', JWT: 'jwt',
  'bearer token (opaque)': 'token', 'anonymous (no credential)': 'anonymous',
};
const typeOf = (i: Identity): string => TYPES[i.description] ?? i.kind;

function expires(i: Identity): string {
  if (i.secondsLeft === null) return i.legacy ? 'never (legacy)' : '-';
  return i.expired ? `expired ${durationText(i.secondsLeft)} ago` : `in ${durationText(i.secondsLeft)}`;
}

function status(i: Identity): string {
  if (i.rejected) return `rejected: ${i.rejected}`;
  const errors = Object.entries(i.statuses).filter(([s]) => /^[45]/.test(s));
  return errors.length ? errors.map(([s, n]) => `${s} ×${n}`).join(', ') : i.requests ? 'ok' : '-';
}

function identityRow(i: Identity, wide: boolean, all = false): unknown[] {
  const row: unknown[] = [
    i.user ?? '-', i.groups.join(',') || '-', typeOf(i), i.issuer ?? '-', expires(i), status(i),
    wide ? i.clients.join(',') : more(i.clients, 2), i.connectionIds.length, i.requests,
    i.fingerprint ? (wide ? i.fingerprint : i.fingerprint.slice(0, 16)) : '-',
    i.sources.join(',') || '-',
  ];
  if (wide) {
    row.push(i.serialNumber ?? '-', i.issuerKeyId ?? '-', i.notAfter ?? '-', i.firstSeenSeconds === null ? '-' : isoTime(i.firstSeenSeconds), i.lastSeenSeconds === null ? '-' : isoTime(i.lastSeenSeconds),
      i.userAgents.join(', ') || '-', topCalls(i, all ? Infinity : 5) || '-');
  }
  if (all) row.push(i.description, i.credentialId ?? '-');
  return row;
}

const identityStyle = (i: Identity): RowStyle => (i.expired || i.rejected ? 'bad' : i.attention.length ? 'warn' : undefined);

function connectionColumns(wide: boolean): Column[] {
  const columns: Column[] = [
    { header: 'ID', align: 'right' }, { header: 'CLIENT' }, { header: 'SERVER' }, { header: 'SNI', shrink: 'truncate' }, { header: 'TLS' },
    { header: 'DECRYPTED', shrink: 'truncate' }, { header: 'CLIENT CERT', shrink: 'truncate' }, { header: 'REQS', align: 'right' },
  ];
  if (wide) columns.push({ header: 'ALPN' }, { header: 'CIPHER SUITE', shrink: 'truncate' }, { header: 'START' }, { header: 'BYTES UP', align: 'right' }, { header: 'BYTES DOWN', align: 'right' });
  return columns;
}

function decryption(c: AnalyzedConnection): string {
  if (c.rejected) return `rejected: ${c.rejected}`;
  const http = c.httpError ? ` (${c.httpError})` : '';
  const text = c.protocol && !c.decrypted ? `plain HTTP${http}` : !c.decrypted ? `no: ${c.reason ?? 'unknown'}` : c.reason ? `partly: ${c.reason}` : `yes${http}`;
  return c.midstream ? `${text}; ${midstreamNote(c.midstream)}` : text;
}

function connectionRow(c: AnalyzedConnection, wide: boolean, plain = false): unknown[] {
  const row: unknown[] = [
    c.id, `${c.client.ip}:${c.client.port}`, `${c.server.ip}:${c.server.port}`, c.sni ?? '-', (c.tlsVersion ?? '-').replace('TLS ', ''),
    decryption(c), c.clientCertificate?.commonName ?? (c.handshakeSeen ? 'none' : '-'), c.requestCount,
  ];
  if (wide) row.push(c.alpn ?? '-', c.cipherSuite ?? '-', plain ? isoTime(c.startTimeSeconds) : isoTime(c.startTimeSeconds).slice(11, 23), c.bytesToServer, c.bytesToClient);
  return row;
}

const connectionStyle = (c: AnalyzedConnection): RowStyle => (c.rejected || !c.decrypted ? 'bad' : c.reason || c.httpError ? 'warn' : undefined);

function requestColumns(wide: boolean): Column[] {
  const columns: Column[] = [
    { header: 'TIME' }, { header: 'CONN', align: 'right' }, { header: 'METHOD' }, { header: 'PATH', shrink: 'wrap' }, { header: 'STATUS' },
    { header: 'USER', shrink: 'truncate' }, { header: 'KUBERNETES', shrink: 'truncate' },
  ];
  if (wide) columns.push({ header: 'STREAM', align: 'right' }, { header: 'NAMESPACE', shrink: 'truncate' }, { header: 'USER AGENT', shrink: 'truncate' }, { header: 'RESPONSE BYTES', align: 'right' });
  return columns;
}

function requestRow(r: AnalyzedRequest, wide: boolean): unknown[] {
  const e = r.exchange;
  const row: unknown[] = [
    isoTime(e.firstTimeSeconds).slice(11, 23), r.connectionId, e.method ?? '-', e.path ?? '-', e.status ?? e.reset ?? '-', r.user ?? '-',
    r.kube.isResourceRequest ? callName(r) : '-',
  ];
  if (wide) row.push(e.streamId, r.kube.namespace ?? '-', e.userAgent ?? '-', e.responseBodyBytes);
  return row;
}

const requestStyle = (r: AnalyzedRequest): RowStyle => {
  const s = r.exchange.status;
  return s === undefined || s >= 500 || s === 401 || s === 403 ? 'bad' : s >= 400 ? 'warn' : undefined;
};

/** "3 connections could not be decrypted (no keys for client random ×2, …); --connections lists them." */
/** Connections decrypted from mid-stream keys say so even when the connections table is not shown (first 10). */
function joinedMidStream(connections: AnalyzedConnection[]): string[] {
  const joined = connections.filter((c) => c.midstream);
  const lines = joined.slice(0, 10).map((c) => `  connection ${c.id} ${c.client.ip}:${c.client.port} → ${c.server.ip}:${c.server.port}: ${midstreamNote(c.midstream!)}`);
  if (joined.length > 10) lines.push(`  … and ${joined.length - 10} more joined mid-stream; --connections lists them.`);
  return lines;
}

function undecrypted(connections: AnalyzedConnection[]): string | null {
  const reasons = new Map<string, number>();
  let n = 0;
  for (const c of connections) {
    if (c.decrypted && !c.rejected) continue;
    n += 1;
    const why = c.rejected ? `rejected: ${c.rejected}` : (c.reason ?? 'unknown');
    reasons.set(why, (reasons.get(why) ?? 0) + 1);
  }
  if (n === 0) return null;
  const list = [...reasons].sort((a, b) => b[1] - a[1]).map(([why, k]) => `${why} ×${k}`).join(', ');
  return `${count(n, 'connection')} not decrypted or refused (${cut(list, 200)}); --connections lists them.`;
}
