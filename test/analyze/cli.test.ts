// The analyze command's contract at its edges: help with examples, exit codes and one-sentence errors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runAnalyze } from './cli.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'gokeylog-analyze-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

test('--help documents the options and shows examples', async () => {
  const run = await runAnalyze(['--help']);
  assert.equal(run.code, 0);
  for (const option of ['--keylog', '--json', '--ndjson', '--html', '--expiring-within']) assert.ok(run.stdout.includes(option), option);
  assert.match(run.stdout, /Examples:/);
});

test('a file that is not a capture exits 3 with one sentence', async () => {
  const file = path.join(dir, 'not-a-capture.pcap');
  writeFileSync(file, 'this is not a capture at all, just text\n');
  const run = await runAnalyze([file, '--json']);
  assert.equal(run.code, 3);
  assert.equal(run.stdout, '');
  assert.match(run.stderr, /^gokeylog: .*not a pcap or pcapng file.*\n$/);
});

test('a missing capture exits 4; a bad option value is a usage error', async () => {
  const missing = await runAnalyze([path.join(dir, 'missing.pcap')]);
  assert.equal(missing.code, 4);
  assert.equal(missing.stderr.split('\n').filter(Boolean).length, 1);
  const usage = await runAnalyze([path.join(dir, 'missing.pcap'), '--expiring-within', 'soon']);
  assert.equal(usage.code, 2);
  const both = await runAnalyze([path.join(dir, 'missing.pcap'), '--json', '--ndjson']);
  assert.equal(both.code, 2);
});
