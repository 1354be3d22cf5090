// `gokeylog capture -w - | gokeylog analyze -` and Ctrl-C: the terminal sends SIGINT to both processes of the
// pipeline at once. capture must end its pcapng cleanly, analyze must read on to that end and finish its report
// (for --ndjson the connection, identity and summary records), and both exit 0. Real stripped Go server and
// client, probes attached by capture; referee: the client's own output (the requests it made).
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { test, type TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { leftovers, requireProbing } from '../probe/harness.js';
import { requireOrSkip } from '../support/env.js';
import { loadFixtures, testPki } from '../support/fixtures.js';
import { cliArgv } from '../support/paths.js';
import { secretTempDir } from '../support/pki.js';
import { commandExists, secretFileIn, spawnChecked, startServer } from '../support/traffic.js';

interface Exited {
  code: number | null;
  signal: NodeJS.Signals | null;
}

const exited = (child: ChildProcess): Promise<Exited> => new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));

function fixtures(t: TestContext) {
  if (!requireProbing(t)) return undefined;
  if (!requireOrSkip(t, commandExists('tcpdump'), 'tcpdump is needed')) return undefined;
  const server = loadFixtures({ program: 'tlsserver', arch: 'amd64', mode: 'exe', stripped: true }).at(-1);
  const client = loadFixtures({ program: 'tlsclient', arch: 'amd64', mode: 'exe', stripped: true }).at(-1);
  if (!requireOrSkip(t, server !== undefined && client !== undefined, 'no stripped amd64 fixtures (run npm run setup)')) return undefined;
  return { server: server!, client: client! };
}

for (const format of ['ndjson', 'text'] as const) {
  test(`capture -w - | analyze - (${format}): Ctrl-C reaches both, analyze finishes its report`, async (t) => {
    const f = fixtures(t);
    if (!f) return;
    const pki = await testPki();
    const dir = secretTempDir('pipe-sigint');
    const server = await startServer(f.server.path, ['-addr', '127.0.0.1:0', '-cert', pki.serverCert, '-key', pki.serverKey]);
    const children: ChildProcess[] = [];
    try {
      const capture = spawn(process.execPath, [...cliArgv(), 'capture', '--pid', String(server.child.pid), '-w', '-', '-f', `tcp port ${server.port}`], { stdio: ['ignore', 'pipe', 'pipe'] });
      const analyze = spawn(process.execPath, [...cliArgv(), 'analyze', '-', '-o', format], { stdio: [capture.stdout, 'pipe', 'pipe'] });
      children.push(capture, analyze);
      let captureErr = '';
      let analyzeOut = '';
      let analyzeErr = '';
      capture.stderr!.setEncoding('utf8').on('data', (d: string) => (captureErr += d));
      analyze.stdout!.setEncoding('utf8').on('data', (d: string) => (analyzeOut += d));
      analyze.stderr!.setEncoding('utf8').on('data', (d: string) => (analyzeErr += d));
      const captureExit = exited(capture);
      const analyzeExit = exited(analyze);
      for (let i = 0; i < 600 && !/gokeylog: capturing on /.test(captureErr); i++) await sleep(50);
      assert.match(captureErr, /gokeylog: capturing on /);

      const paths = ['/api/v1/namespaces/kube-system/pods?limit=2', '/healthz', '/apis/apps/v1/namespaces/default/deployments'];
      const clientArgs = ['-url', `https://127.0.0.1:${server.port}/`, '-ca', pki.caCert, '-keylog', secretFileIn(dir, 'client.keylog'), '-n', '6', '-conns', '2', ...paths.flatMap((p) => ['-path', p])];
      const made = (await spawnChecked(f.client.path, clientArgs)).stdout.split('\n').filter(Boolean);
      if (format === 'ndjson') {
        // The requests stream out as they complete, before anyone presses Ctrl-C.
        for (let i = 0; i < 400 && analyzeOut.split('\n').filter((l) => l.includes('"type":"request"')).length < made.length; i++) await sleep(50);
      } else {
        await sleep(1000); // not a measurement: lets the last packets reach tcpdump before the interrupt
      }

      // Ctrl-C: the terminal signals the whole foreground process group at once.
      capture.kill('SIGINT');
      analyze.kill('SIGINT');
      const [c, a] = await Promise.all([captureExit, analyzeExit]);
      assert.deepEqual(c, { code: 0, signal: null }, captureErr);
      assert.deepEqual(a, { code: 0, signal: null }, analyzeErr);
      assert.match(analyzeErr, /gokeylog: finishing: reading the capture to its end, then the report/);
      assert.deepEqual(leftovers(capture.pid!), []);

      if (format === 'ndjson') {
        const records = analyzeOut.trimEnd().split('\n').map((l) => JSON.parse(l) as { type: string; path?: string; status?: number; connections?: number; requests?: number });
        const requests = records.filter((r) => r.type === 'request');
        assert.deepEqual(requests.map((r) => `${r.status} ${r.path}`).sort(), made.map((l) => `${l.split(' ')[0]} ${l.split(' ')[2]}`).sort());
        assert.deepEqual([...new Set(records.map((r) => r.type))], ['request', 'connection', 'identity', 'summary']);
        const summary = records.at(-1)!;
        assert.deepEqual([summary.type, summary.requests, summary.connections], ['summary', made.length, 2]);
      } else {
        assert.match(analyzeOut, /^standard input: 2 connections \(2 decrypted\), 6 requests, 1 identity\.$/m);
        assert.match(analyzeOut, /^system:anonymous +system:unauthenticated +anonymous /m);
      }
    } finally {
      for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await server.stop();
    }
  });
}
