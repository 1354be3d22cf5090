// The HTML report's escaping, on exact inputs: what a hostile capture could put into text and attributes.
// The rendered page in a browser, on real captures: html.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { esc, escWrap } from '../../src/report/html/escape.js';
import { analyzeRequest, buildReport, renderHtml } from '../../src/report/index.js';

test('esc: markup, quotes and ampersands become entities, in text and attribute contexts', () => {
  assert.equal(esc(`<script>alert("x")</script>`), '&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;');
  assert.equal(esc(`" onmouseover='a()' x="`), '&quot; onmouseover=&#39;a()&#39; x=&quot;');
  assert.equal(esc('a&amp;b'), 'a&amp;amp;b');
  assert.equal(esc(null), '');
  assert.equal(esc(404), '404');
});

test('esc: control characters and text-reordering marks are shown, not passed through', () => {
  assert.equal(esc('ua\x1b[31mred\x00\x7f\x85'), 'ua\\x1b[31mred\\x00\\x7f\\x85');
  assert.equal(esc('admin\u202Egnp.exe'), 'admin\\u{202e}gnp.exe');
  assert.equal(esc('zero\u200Bwidth\uFEFF'), 'zero\\u{200b}width\\u{feff}');
  assert.equal(esc('tab\tand\nnewline'), 'tab\tand\nnewline');
});

test('escWrap: breaks only after separators, each piece with a break inside kept whole', () => {
  assert.equal(escWrap('/api/v1/pods?limit=5'), '/<wbr>api/<wbr>v1/<wbr>pods?<wbr>limit=<wbr>5');
  assert.equal(escWrap('system:node:worker-old'), 'system:<wbr>node:<wbr><span class="nw">worker-old</span>');
  assert.equal(escWrap('a b'), 'a b');
  assert.equal(escWrap(`x=<b>&"y"`), 'x=<wbr><span class="nw">&lt;b&gt;&amp;</span><wbr><span class="nw">&quot;y&quot;</span>');
  assert.equal(escWrap('\x0bv'), '\\x0bv');
});

test('renderHtml: one script (its own, allowed by hash), nothing external, hostile names as text', () => {
  const cert = {
    subject: 'CN=<img src=x onerror=alert(1)>', commonName: `<img src=x onerror=alert(1)>"'`, organizations: ['<b>'], issuer: 'CN=ca',
    subjectAltNames: [], notBefore: '2026-01-01T00:00:00.000Z', notAfter: '2026-06-03T00:00:00.000Z', serialNumber: '01', sha256: 'AB:CD', authorityKeyId: null,
  } as const;
  const connection = {
    id: 1, client: { ip: '10.0.0.1', port: 5 }, server: { ip: '10.0.0.2', port: 6443 }, startTimeSeconds: Date.UTC(2026, 5, 1) / 1000, sni: '"><svg onload=x>',
    alpn: 'h2', tlsVersion: 'TLS 1.3', cipherSuite: 'TLS_AES_128_GCM_SHA256', decrypted: true, reason: null, clientCertificate: { ...cert, organizations: [...cert.organizations], subjectAltNames: [] },
    serverCertificate: null, handshakeSeen: true, alert: null, rejected: null, protocol: 'h2' as const, httpError: null, bytesToServer: 1, bytesToClient: 2, plaintextBytesToServer: 1, plaintextBytesToClient: 2, requestCount: 0, calls: {}, nodes: [],
  };
  const exchange = {
    protocol: 'h2' as const, streamId: 1, method: 'GET', path: '/api/v1/pods?x=</script><script>alert(2)</script>', status: 200, userAgent: 'ua\x1b',
    requestHeaders: [], responseHeaders: [], trailers: [], requestBodyBytes: 0, responseBodyBytes: 0, firstTimeSeconds: connection.startTimeSeconds, lastTimeSeconds: connection.startTimeSeconds, complete: true,
  };
  const report = buildReport([connection], [analyzeRequest(connection, exchange)], { expiringWithinDays: 30, referenceTimeSeconds: connection.startTimeSeconds });
  const html = renderHtml(report, { nowSeconds: connection.startTimeSeconds });
  const scripts = [...html.matchAll(/<script>([\s\S]*?)<\/script>/g)];
  assert.equal(scripts.length, 1);
  assert.equal(html.match(/<script/g)!.length, 1);
  const hash = createHash('sha256').update(scripts[0]![1]!).digest('base64');
  assert.ok(html.includes(`script-src 'sha256-${hash}'`), 'the CSP allows exactly that script');
  assert.match(html, /default-src 'none'/);
  assert.doesNotMatch(html, /<img|<svg onload|https?:|\x1b/);
  assert.ok(html.includes('&lt;img src=x onerror=alert(1)&gt;&quot;&#39;') || html.replace(/<[^>]*>/g, '').includes('&lt;img src=x onerror=alert(1)&gt;&quot;&#39;'));
  assert.ok(html.includes('expires in 2 days'), 'the identity expiring within the window is named');
});

test('renderHtml: a capture analysed a month later marks "now" apart from the capture, the server certificate expired', () => {
  const captured = Date.UTC(2026, 5, 1);
  const serverCertificate = {
    subject: 'CN=kube-apiserver', commonName: 'kube-apiserver', organizations: [], issuer: 'CN=ca', subjectAltNames: [],
    notBefore: '2026-01-01T00:00:00.000Z', notAfter: '2026-06-11T00:00:00.000Z', serialNumber: '02', sha256: 'EF:01', authorityKeyId: null,
  };
  const connection = {
    id: 1, client: { ip: '10.0.0.1', port: 5 }, server: { ip: '10.0.0.2', port: 6443 }, startTimeSeconds: captured / 1000, sni: null, alpn: null, tlsVersion: 'TLS 1.3',
    cipherSuite: null, decrypted: false, reason: 'no keys for client random', clientCertificate: null, serverCertificate, handshakeSeen: true, alert: null, rejected: null,
    protocol: null, httpError: null, bytesToServer: 1, bytesToClient: 2, plaintextBytesToServer: 0, plaintextBytesToClient: 0, requestCount: 0, calls: {}, nodes: [],
  };
  const report = buildReport([connection], [], { expiringWithinDays: 7, referenceTimeSeconds: captured / 1000 });
  const html = renderHtml(report, { nowSeconds: captured / 1000 + 30 * 86_400 });
  assert.match(html, /expiry measured from the start of the capture, <b>2026-06-01 00:00:00 UTC<\/b>/);
  assert.match(html, /report made 2026-07-01 00:00:00 UTC/);
  assert.match(html, /<text class="marker-label now"[^>]*>now<\/text>/);
  assert.match(html, /capture \(30 days ago\)/);
  assert.match(html, /<g class="row valid"><title>server kube-apiserver: expires in 10 days \(2026-06-11 00:00:00 UTC\)<\/title>/);
  assert.match(html, /1<\/span> no keys for client random/);
});

test('renderHtml: the identities table says where each certificate was read (handshake in the capture, or the live process), as JSON identityFrom does', () => {
  const start = Date.UTC(2026, 5, 1) / 1000;
  const cert = (cn: string, sha256: string) => ({
    subject: `CN=${cn}`, commonName: cn, organizations: ['system:nodes'], issuer: 'CN=ca', subjectAltNames: [],
    notBefore: '2026-01-01T00:00:00.000Z', notAfter: '2026-09-01T00:00:00.000Z', serialNumber: sha256.slice(0, 2), sha256, authorityKeyId: null,
  });
  const connection = (id: number, cn: string, sha256: string, identitySource: 'handshake' | 'live process') => ({
    id, client: { ip: '10.0.0.1', port: 40000 + id }, server: { ip: '10.0.0.2', port: 6443 }, startTimeSeconds: start, sni: null, alpn: 'h2', tlsVersion: 'TLS 1.3',
    cipherSuite: 'TLS_AES_128_GCM_SHA256', decrypted: true, reason: null, clientCertificate: cert(cn, sha256), serverCertificate: null, handshakeSeen: identitySource === 'handshake',
    alert: null, rejected: null, protocol: 'h2' as const, httpError: null, bytesToServer: 1, bytesToClient: 1, plaintextBytesToServer: 0, plaintextBytesToClient: 0,
    requestCount: 0, calls: {}, nodes: [], identitySource,
  });
  const report = buildReport([connection(1, 'system:node:handshaken', 'AA:01', 'handshake'), connection(2, 'system:node:before', 'BB:02', 'live process')], [],
    { expiringWithinDays: 7, referenceTimeSeconds: start });
  const html = renderHtml(report, { nowSeconds: start });
  const table = /<table id="identities"[\s\S]*?<\/table>/.exec(html)![0];
  const rows = [...table.matchAll(/<tr[^>]*>([\s\S]*?)<\/tr>/g)].map((m) => m[1]!).filter((r) => r.includes('system:'));
  const fromOf = (cn: string): string[] => {
    const row = rows.find((r) => r.replace(/<[^>]*>/g, '').includes(cn));
    assert.ok(row, `a row for ${cn}`);
    return [...row.matchAll(/data-from="([^"]+)">([^<]+)</g)].map((m) => `${m[1]}: ${m[2]}`);
  };
  assert.deepEqual(fromOf('system:node:handshaken'), ['handshake: handshake in the capture']);
  assert.deepEqual(fromOf('system:node:before'), ['live process: live process (analyze --conns)']);
});
