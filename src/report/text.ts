/** Terminal rendering with cli-table3: warnings, identities, connections, requests. */
import Table from 'cli-table3';
import { callName, midstreamNote, type AnalyzedConnection, type Report } from './model.js';
import { isoTime } from './json.js';

const TOP_CALLS = 5;

/** Colours only for a terminal, and never when NO_COLOR is set (https://no-color.org). */
export interface TextOptions {
  color: boolean;
}

function table(head: string[], options: TextOptions, wordWrap = false): Table.Table {
  const style = options.color ? { head: ['cyan'], border: ['grey'] } : { head: [], border: [] };
  return new Table({ head, style, wordWrap });
}

export function renderText(report: Report, options: TextOptions): string {
  const out: string[] = [];
  if (report.warnings.length) {
    out.push('Certificate warnings:');
    for (const w of report.warnings) out.push(`  ! ${w.message}`);
    out.push('');
  }

  out.push(`Identities (client certificates; expiry measured from ${report.referenceTimeSource === 'capture' ? 'the capture time' : 'now'} ${report.referenceTime}):`);
  if (report.identities.length === 0) out.push('  none seen (no decrypted client certificate)');
  else {
    const t = table(['User (CN)', 'Groups (O)', 'Not after', 'Days left', 'Conns', 'Requests', 'Top calls', 'User agents'], options, true);
    for (const i of report.identities) {
      const calls = Object.entries(i.calls).sort((a, b) => b[1] - a[1]).slice(0, TOP_CALLS).map(([c, n]) => `${c} ×${n}`);
      t.push([i.user, i.groups.join(', '), i.notAfter ?? '', i.expired ? 'EXPIRED' : `${i.daysLeft}${i.expiringSoon ? ' !' : ''}`, i.connectionIds.length, i.requests, calls.join('\n'), i.userAgents.join('\n')]);
    }
    out.push(t.toString());
  }
  out.push('');

  out.push(`Connections (${report.connections.length}):`);
  const ct = table(['ID', 'Client', 'Server', 'SNI', 'ALPN', 'TLS', 'Cipher suite', 'Decrypted', 'Client CN', 'Requests'], options);
  for (const c of report.connections) {
    ct.push([
      c.id, `${c.client.ip}:${c.client.port}`, `${c.server.ip}:${c.server.port}`, c.sni ?? '', c.alpn ?? '', c.tlsVersion ?? '', c.cipherSuite ?? '',
      decryptedText(c),
      c.clientCertificate?.commonName ?? '', c.requestCount,
    ]);
  }
  out.push(ct.toString(), '');

  out.push(`Requests (${report.requests.length}):`);
  const rt = table(['Time', 'Conn', 'Stream', 'Method', 'Path', 'Status', 'User agent', 'Kubernetes'], options);
  for (const r of report.requests) {
    const e = r.exchange;
    rt.push([isoTime(e.firstTime), r.connectionId, e.streamId, e.method ?? '', e.path ?? '', e.status ?? (e.reset ?? ''), e.userAgent ?? '', r.kube.isResourceRequest ? callName(r) : '']);
  }
  out.push(rt.toString());
  return `${out.join('\n')}\n`;
}

function decryptedText(c: AnalyzedConnection): string {
  const text = c.decrypted ? (c.reason ? `partly: ${c.reason}` : c.httpError ? `yes (${c.httpError})` : 'yes') : `no: ${c.reason ?? 'unknown'}`;
  return c.midstream ? `${text}; ${midstreamNote(c.midstream)}` : text;
}
