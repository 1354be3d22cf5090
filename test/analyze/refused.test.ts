// A connection the server refused (SYN answered by RST) is reported as "refused (RST)", not "not TLS"
// (issue 8, defect 5). Referees: curl's own exit code 7 (connection refused) and tshark's TCP flags.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { isRoot, requireOrSkip } from '../support/env.js';
import { secretTempDir } from '../support/pki.js';
import { commandExists, freePort, runProcess, startCapture, tsharkFields } from '../support/traffic.js';
import { runAnalyze } from './cli.js';

test('curl to a closed port: analyze says "refused (RST)"', async (t) => {
  if (!requireOrSkip(t, isRoot(), 'capturing with tcpdump needs root')) return;
  if (!requireOrSkip(t, commandExists('tshark') && commandExists('tcpdump') && commandExists('curl'), 'tshark, tcpdump and curl are needed')) return;
  const port = await freePort();
  const capture = await startCapture({ port, file: path.join(secretTempDir('refused'), 'refused.pcap') });
  let curl;
  try {
    curl = await runProcess('curl', ['-sS', '--max-time', '10', `https://127.0.0.1:${port}/`]);
  } finally {
    await capture.stop();
  }
  assert.equal(curl.code, 7, `curl could not connect: ${curl.stderr}`);
  const flags = await tsharkFields(capture.file, { fields: ['tcp.flags.syn', 'tcp.flags.ack', 'tcp.flags.reset'] });
  assert.deepEqual(flags.map((f) => f.map((v) => (v === 'True' || v === '1' ? 1 : 0)).join('')), ['100', '011'], 'SYN, then RST+ACK');

  const run = await runAnalyze([capture.file, '--json']);
  assert.equal(run.code, 0, run.stderr);
  const { connections } = JSON.parse(run.stdout) as { connections: Array<{ decrypted: boolean; reason?: string; bytesToServer: number; bytesToClient: number }> };
  assert.deepEqual(connections.map((c) => [c.decrypted, c.reason, c.bytesToServer, c.bytesToClient]), [[false, 'refused (RST)', 0, 0]]);
  const text = await runAnalyze([capture.file]);
  assert.match(text.stdout, /refused \(RST\)/);
  assert.doesNotMatch(text.stdout, /not TLS/);
});
