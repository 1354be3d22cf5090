// Terminal injection (issue 12, item 5): ESC/OSC/CR sequences a client puts in its SNI (readable without keys),
// an HTTP/2 :path and user agent, and an HTTP/1.1 request line must reach no terminal raw. Real clients and
// servers (Node's TLS, HTTP/2 and a raw TCP client), captured by tcpdump.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import http2 from 'node:http2';
import net from 'node:net';
import tls from 'node:tls';
import { readFileSync } from 'node:fs';
import { isRoot, requireOrSkip } from '../support/env.js';
import { testPki } from '../support/fixtures.js';
import { commandExists, secretFileIn, startCapture, type Capture } from '../support/traffic.js';
import { secretTempDir } from '../support/pki.js';
import { runAnalyze } from './cli.js';

const EVIL = '\u001b]0;owned\u0007\u001b[2J\rX';
const RAW = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/; // every control character but tab and newline

async function listening(server: net.Server): Promise<number> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return (server.address() as net.AddressInfo).port;
}

test('control characters from the wire are escaped in every text output', async (t) => {
  if (!requireOrSkip(t, isRoot() && commandExists('tcpdump'), 'capturing with tcpdump needs root')) return;
  const dir = secretTempDir('escape');
  const pki = await testPki();
  const captures: Capture[] = [];
  const servers: net.Server[] = [];
  try {
    // 1. SNI: a TLS handshake, no keys needed.
    const tlsServer = tls.createServer({ cert: readFileSync(pki.serverCert), key: readFileSync(pki.serverKey) }, (s) => s.end());
    servers.push(tlsServer);
    const tlsPort = await listening(tlsServer);
    captures.push(await startCapture({ port: tlsPort, file: secretFileIn(dir, 'sni.pcap') }));
    const client = tls.connect({ host: '127.0.0.1', port: tlsPort, servername: `api${EVIL}.example`, rejectUnauthorized: false });
    client.on('error', () => undefined);
    await once(client, 'secureConnect');
    client.end();
    await once(client, 'close');

    // 2. HTTP/2 in the clear (h2c): :path and user-agent; the server refuses the stream, the request was sent.
    const h2 = http2.createServer((_q, r) => r.end('ok'));
    servers.push(h2);
    const h2Port = await listening(h2);
    captures.push(await startCapture({ port: h2Port, file: secretFileIn(dir, 'h2.pcap') }));
    const session = http2.connect(`http://127.0.0.1:${h2Port}`);
    const stream = session.request({ ':path': `/api/v1/pods${EVIL}`, 'user-agent': `kubectl${EVIL}` });
    const closed = new Promise((resolve) => stream.on('close', resolve));
    stream.on('error', () => undefined); // the server's refusal
    stream.end();
    await closed;
    session.close();

    // 3. An HTTP/1.1 request line and user agent, sent as raw bytes.
    const h1 = net.createServer((s) => s.once('data', () => s.end('HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n')));
    servers.push(h1);
    const h1Port = await listening(h1);
    captures.push(await startCapture({ port: h1Port, file: secretFileIn(dir, 'h1.pcap') }));
    // One that a parser takes (no CR or blank in the target), one whose request line it refuses and quotes.
    for (const target of ['/healthz\u001b]0;owned\u0007', `/healthz${EVIL}`]) {
      const raw = net.connect(h1Port, '127.0.0.1');
      raw.end(`GET ${target} HTTP/1.1\r\nHost: x\r\nUser-Agent: curl${EVIL}\r\n\r\n`);
      raw.resume();
      await once(raw, 'close');
    }
  } finally {
    for (const c of captures) await c.stop();
    for (const s of servers) s.close();
  }

  const files = captures.map((c) => c.file);
  for (const format of ['text', 'wide', 'tsv', 'csv']) {
    for (const table of [[], ['--connections'], ['--requests']]) {
      const run = await runAnalyze([...files, '-o', format, ...table]);
      assert.equal(run.code, 0, run.stderr);
      const bad = run.stdout.match(RAW) ?? run.stderr.match(RAW);
      assert.equal(bad, null, `-o ${format} ${table.join(' ')} printed ${JSON.stringify(bad?.[0])}`);
      if (format === 'wide') assert.ok(run.stdout.includes('\\e]0;owned\\x07\\e[2J\\rX'), run.stdout);
    }
  }
  // What the escapes stand for is all there: SNI, :path, user agents, the HTTP/1.1 path and refused request line.
  const wide = (await runAnalyze([...files, '-o', 'wide'])).stdout;
  for (const where of ['api\\e]0;owned', '/api/v1/pods\\e]0;owned', 'kubectl\\e]0;owned', '/healthz\\e]0;owned\\x07', 'curl\\e]0;owned', 'malformed request line "GET /healthz\\e]0;owned\\x07\\e[2J\\rX HTTP/1.1"']) {
    assert.ok(wide.includes(where), `${where} in ${wide}`);
  }
});
