// TLS 1.2 session resumption, referee tshark: openssl s_client makes a full handshake with the Go fixture
// server, keeps the session (ticket) and resumes it in a second connection. We get only the first
// connection's key (openssl's key log): the resumed one must be decrypted through the session it resumes.
// tshark 4.0 does not follow the ticket, so it reads the capture with the server's key log, which has
// both connections' keys.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { appendFileSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { loadFixtures, testPki, type TestPki } from '../support/fixtures.js';
import { isRoot, requireOrSkip } from '../support/env.js';
import { secretTempDir } from '../support/pki.js';
import { commandExists, secretFileIn, startCapture, startServer, tsharkFields } from '../support/traffic.js';
import { runAnalyze } from './cli.js';

interface JsonReport {
  connections: Array<{ id: number; decrypted: boolean; reason?: string; tlsVersion: string | null }>;
  requests: Array<{ connectionId: number; method: string; path: string; status: number | null }>;
}

/** One HTTP/1.1 request through `openssl s_client`; resolves to its stdout (which says "Reused" or "New"). */
function opensslGet(port: number, pki: TestPki, requestPath: string, session: string[]): Promise<string> {
  const args = ['s_client', '-connect', `127.0.0.1:${port}`, '-CAfile', pki.caCert, '-tls1_2', '-alpn', 'http/1.1', '-ign_eof', ...session];
  return new Promise((resolve, reject) => {
    const child = spawn('openssl', args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    child.once('error', reject);
    child.once('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`openssl s_client exit ${code}: ${err}`))));
    child.stdin.end(`GET ${requestPath} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`);
  });
}

test('analyze decrypts a resumed TLS 1.2 session with the key of the session it resumes, like tshark', async (t) => {
  const [server] = loadFixtures({ program: 'tlsserver', arch: 'amd64', mode: 'exe', stripped: false }).slice(-1);
  if (!requireOrSkip(t, isRoot(), 'capturing with tcpdump needs root')) return;
  if (!requireOrSkip(t, commandExists('tshark') && commandExists('tcpdump') && commandExists('openssl'), 'tshark, tcpdump and openssl are needed')) return;
  if (!requireOrSkip(t, server !== undefined, 'Go fixtures not built (npm run setup)')) return;
  const pki = await testPki();
  const dir = secretTempDir('resume');
  const keyLog = secretFileIn(dir, 'first.keylog');
  const refereeKeyLog = secretFileIn(dir, 'both.keylog');
  const sessionFile = path.join(dir, 'session.pem');
  const running = await startServer(server!.path, ['-addr', '127.0.0.1:0', '-cert', pki.serverCert, '-key', pki.serverKey, '-max-version', '1.2']);
  let pcap: string;
  try {
    const capture = await startCapture({ port: running.port, file: secretFileIn(dir, 'resume.pcap') });
    try {
      const first = await opensslGet(running.port, pki, '/healthz', ['-sess_out', sessionFile, '-keylogfile', keyLog]);
      appendFileSync(refereeKeyLog, readFileSync(keyLog));
      const second = await opensslGet(running.port, pki, '/api/v1/namespaces/default/pods', ['-sess_in', sessionFile, '-keylogfile', refereeKeyLog]);
      assert.match(first, /^New, TLSv1\.2/m);
      assert.match(second, /^Reused, TLSv1\.2/m, 'the second connection resumed the session (else this test proves nothing)');
    } finally {
      await capture.stop();
    }
    pcap = capture.file;
  } finally {
    await running.stop();
  }
  const keyLines = (file: string): string[] => readFileSync(file, 'utf8').split('\n').filter((l) => l !== '' && !l.startsWith('#'));
  assert.equal(keyLines(keyLog).length, 1, 'we know only the first connection\'s key');
  assert.equal(new Set(keyLines(refereeKeyLog)).size, 2, 'the referee knows both');

  const run = await runAnalyze([pcap, '--keylog', keyLog, '--json']);
  assert.equal(run.code, 0, run.stderr);
  const report = JSON.parse(run.stdout) as JsonReport;
  assert.deepEqual(report.connections.map((c) => [c.decrypted, c.reason ?? null, c.tlsVersion]), [[true, null, 'TLS 1.2'], [true, null, 'TLS 1.2']]);

  const requests = await tsharkFields(pcap, { keyLog: refereeKeyLog, tlsPort: running.port, filter: 'http.request', fields: ['tcp.stream', 'http.request.method', 'http.request.uri'] });
  const responses = await tsharkFields(pcap, { keyLog: refereeKeyLog, tlsPort: running.port, filter: 'http.response', fields: ['tcp.stream', 'http.response.code'] });
  assert.equal(requests.length, 2, 'tshark decrypts both connections');
  assert.deepEqual(report.requests.map((r) => [String(r.connectionId - 1), r.method, r.path]), requests);
  assert.deepEqual(report.requests.map((r) => [String(r.connectionId - 1), String(r.status)]), responses);
});
