import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync, copyFileSync, openSync, writeSync, closeSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { fileOffsetFromSegments, readelfSegments } from '../support/readelf.js';
import { requireOrSkip } from '../support/env.js';
import { loadFixtures, notGoBinary, testPki } from '../support/fixtures.js';
import { cliArgv, repoRoot } from '../support/paths.js';
import { runProcess, startServer } from '../support/traffic.js';

const scratch = mkdtempSync(path.join(os.tmpdir(), 'gokeylog-cli-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

function cli(args: string[]) {
  return runProcess(process.execPath, [...cliArgv(), 'inspect', ...args], { cwd: repoRoot() });
}

/** One line on stderr, "gokeylog: …", a sentence, no stack trace; a usage error (exit 2) then names the help. */
function assertOneSentence(stderr: string, pattern: RegExp, code: number): void {
  const lines = stderr.trimEnd().split('\n');
  if (code === 2) assert.equal(lines.pop(), "See 'gokeylog inspect --help'.", stderr);
  assert.equal(lines.length, 1, stderr);
  assert.match(lines[0]!, /^gokeylog: .+\.$/);
  assert.match(lines[0]!, pattern);
  assert.doesNotMatch(stderr, /\n\s+at |Error:/);
}

const newestStripped = () => loadFixtures({ program: 'tlsserver', stripped: true, arch: 'amd64', mode: 'exe' }).at(-1);

describe('gokeylog inspect (CLI)', () => {
  it('prints the JSON report with hex addresses and exits 0', async (t) => {
    const fixture = newestStripped();
    if (!requireOrSkip(t, fixture !== undefined, 'no fixtures (run scripts/setup.sh)')) return;
    const result = await cli([fixture!.path, '--json']);
    assert.equal(result.code, 0, result.stderr);
    const report = JSON.parse(result.stdout);
    assert.equal(report.writeKeyLog.vaddr, fixture!.nmWriteKeyLog);
    const offset = fileOffsetFromSegments(await readelfSegments(fixture!.path), Number(fixture!.nmWriteKeyLog))!;
    assert.equal(report.writeKeyLog.fileOffset, `0x${offset.toString(16)}`);
    assert.equal(report.writeKeyLog.validated, true);
    assert.equal(report.goVersion, fixture!.goVersion);
    for (const key of ['arch', 'elfType', 'pie', 'linking', 'cgo', 'stripped', 'goVersionSource', 'mainModule', 'dependencies', 'abi', 'pclntab', 'textStart']) {
      assert.ok(key in report, key);
    }
    assert.match(report.pclntab.vaddr, /^0x[0-9a-f]+$/);
    assert.match(report.textStart.vaddr, /^0x[0-9a-f]+$/);
    assert.deepEqual(report.writeKeyLog.args.labelPtr, { register: 'bx' });
  });

  it('prints aligned key/value lines as text', async (t) => {
    const fixture = newestStripped();
    if (!requireOrSkip(t, fixture !== undefined, 'no fixtures (run scripts/setup.sh)')) return;
    const result = await cli([fixture!.path]);
    assert.equal(result.code, 0, result.stderr);
    const lines = result.stdout.trimEnd().split('\n');
    const columns = new Set(lines.map((line) => /^[a-zA-Z ]+:\s+/.exec(line)![0].length));
    assert.equal(columns.size, 1, result.stdout);
    assert.ok(lines.some((line) => line.startsWith('writeKeyLog:') && line.includes(fixture!.nmWriteKeyLog!)));
  });

  it('inspects a running process by --pid', async (t) => {
    const fixture = newestStripped();
    if (!requireOrSkip(t, fixture !== undefined, 'no fixtures (run scripts/setup.sh)')) return;
    const pki = await testPki();
    const server = await startServer(fixture!.path, ['-addr', '127.0.0.1:0', '-cert', pki.serverCert, '-key', pki.serverKey]);
    try {
      const result = await cli(['--pid', String(server.child.pid), '--json']);
      assert.equal(result.code, 0, result.stderr);
      assert.equal(JSON.parse(result.stdout).writeKeyLog.vaddr, fixture!.nmWriteKeyLog);
    } finally {
      await server.stop();
    }
  });

  it('fails with one sentence and the documented exit code, never a stack trace', async (t) => {
    const text = path.join(scratch, 'notes.txt');
    writeFileSync(text, 'not a binary\n');
    const cases: [string[], number, RegExp][] = [
      [[text], 3, /is not an ELF file/],
      // A missing file or process is "not found" (4), as the README says, not an I/O failure.
      [[path.join(scratch, 'missing')], 4, /no such file/],
      [[], 2, /either a PATH or --pid/],
      [[text, '--pid', '1'], 2, /either a PATH or --pid/],
      [['--pid', 'abc'], 2, /--pid abc is not a process id/],
      [['--pid', '999999999'], 4, /no process with PID/],
    ];
    const c = notGoBinary();
    if (c) cases.push([[c], 3, /is not a Go binary/]);
    const notls = loadFixtures({ program: 'notls' }).at(-1);
    if (notls) cases.push([[notls.path], 3, /without crypto\/tls/]);
    const fixture = newestStripped();
    if (fixture) {
      const damaged = path.join(scratch, 'damaged');
      copyFileSync(fixture.path, damaged);
      const offset = fileOffsetFromSegments(await readelfSegments(fixture.path), Number(fixture.nmWriteKeyLog))!;
      const fd = openSync(damaged, 'r+');
      writeSync(fd, Buffer.alloc(4, 0xcc), 0, 4, offset);
      closeSync(fd);
      cases.push([[damaged], 4, /does not start with Go's amd64 stack-check prologue; its first bytes are cc cc cc cc/]);
    }
    if (!requireOrSkip(t, c !== null && notls !== undefined && fixture !== undefined, 'no fixtures (run scripts/setup.sh)')) return;
    for (const [args, code, pattern] of cases) {
      const result = await cli(args);
      assert.equal(result.code, code, `${args.join(' ')}: ${result.stderr}`);
      assertOneSentence(result.stderr, pattern, code);
      assert.equal(result.stdout, '');
    }
  });

  it('documents itself with examples', async () => {
    const result = await cli(['--help']);
    assert.equal(result.code, 0);
    assert.match(result.stdout, /--reference/);
    assert.match(result.stdout, /Examples:\n\s+gokeylog inspect/);
  });
});
