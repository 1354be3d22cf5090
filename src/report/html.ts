/**
 * A single self-contained HTML report (inline CSS, no scripts or external resources): expiry warnings
 * and identities first, then connections and requests. Every captured string is escaped.
 */
import { callName, type Report } from './model.js';
import { isoTime } from './json.js';

const escapeHtml = (s: unknown): string =>
  String(s ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

function table(head: string[], rows: unknown[][], rowClass?: (i: number) => string): string {
  const th = head.map((h) => `<th>${escapeHtml(h)}</th>`).join('');
  const trs = rows.map((r, i) => `<tr${rowClass ? ` class="${rowClass(i)}"` : ''}>${r.map((c) => `<td>${escapeHtml(c)}</td>`).join('')}</tr>`).join('\n');
  return `<table><thead><tr>${th}</tr></thead><tbody>\n${trs}\n</tbody></table>`;
}

const STYLE = `body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222}h1{font-size:1.4em}h2{font-size:1.15em;margin-top:2em}
table{border-collapse:collapse;width:100%;font-size:12px}th,td{border:1px solid #ccc;padding:3px 6px;text-align:left;vertical-align:top;word-break:break-all}
th{background:#f0f0f0}.warn{background:#fff3cd}.bad{background:#f8d7da}ul.warnings li{color:#8a4b00;font-weight:600}.muted{color:#777}`;

export function renderHtml(report: Report): string {
  const identities = report.identities;
  const parts = [
    `<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>gokeylog analysis</title><style>${STYLE}</style></head><body>`,
    `<h1>gokeylog analysis</h1><p class="muted">${report.connections.length} connections, ${report.requests.length} requests. Certificate expiry measured from ${report.referenceTimeSource === 'capture' ? 'the capture time' : 'now'} (${escapeHtml(report.referenceTime)}); warning within ${report.expiringWithinDays} days.</p>`,
    `<h2>Expiring certificates</h2>`,
    report.warnings.length ? `<ul class="warnings">${report.warnings.map((w) => `<li>${escapeHtml(w.message)}</li>`).join('')}</ul>` : '<p class="muted">None.</p>',
    `<h2>Identities</h2>`,
    identities.length
      ? table(
          ['User (CN)', 'Groups (O)', 'Not after', 'Days left', 'Connections', 'Requests', 'Calls', 'User agents', 'Certificate SHA-256'],
          identities.map((i) => [i.user ?? i.description, i.groups.join(', '), i.notAfter ?? 'never', i.expired ? 'expired' : i.daysLeft, i.connectionIds.join(' '), i.requests,
            Object.entries(i.calls).sort((a, b) => b[1] - a[1]).map(([c, n]) => `${c} ×${n}`).join('; '), i.userAgents.join('; '), i.fingerprint]),
          (n) => (identities[n]!.expired ? 'bad' : identities[n]!.expiringSoon ? 'warn' : ''),
        )
      : '<p class="muted">No decrypted client certificate.</p>',
    `<h2>Connections</h2>`,
    table(
      ['ID', 'Client', 'Server', 'SNI', 'ALPN', 'TLS', 'Cipher suite', 'Decrypted', 'Reason', 'Client CN', 'Client O', 'Requests'],
      report.connections.map((c) => [c.id, `${c.client.ip}:${c.client.port}`, `${c.server.ip}:${c.server.port}`, c.sni, c.alpn, c.tlsVersion, c.cipherSuite,
        c.decrypted ? 'yes' : 'no', c.reason ?? c.httpError ?? '', c.clientCertificate?.commonName, c.clientCertificate?.organizations.join(', '), c.requestCount]),
      (n) => (report.connections[n]!.decrypted ? '' : 'bad'),
    ),
    `<h2>Requests</h2>`,
    table(
      ['Time', 'Conn', 'Stream', 'Method', 'Path', 'Status', 'User agent', 'User', 'Kubernetes', 'Namespace', 'Response bytes'],
      report.requests.map((r) => {
        const e = r.exchange;
        return [isoTime(e.firstTime), r.connectionId, e.streamId, e.method, e.path, e.status ?? e.reset, e.userAgent, r.user, r.kube.isResourceRequest ? callName(r) : '', r.kube.namespace, e.responseBodyBytes];
      }),
    ),
    '</body></html>\n',
  ];
  return parts.join('\n');
}
