// A full disk (issue 12, item 6), on a real small tmpfs: keylog and capture say ENOSPC when it happens, stop by
// themselves with a summary that counts what is really in the file, and leave files their readers take whole
// (the key log in whole lines, as the client's own KeyLogWriter wrote them; the pcapng to its last whole
// block, as tshark reads it).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmdirSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { leftovers, probingFixtures, readKeyLogSet } from '../probe/harness.js';
import { startCli } from '../support/cli.js';
import { requireOrSkip } from '../support/env.js';
import { secretTempDir } from '../support/pki.js';
import { commandExists, runTraffic, spawnChecked } from '../support/traffic.js';

/** A 1 MiB tmpfs of its own, unmounted when the test ends. */
function smallDisk(t: TestContext): string {
  const mount = mkdtempSync(path.join(os.tmpdir(), 'gokeylog-full-'));
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m,mode=0700', 'tmpfs', mount]);
  t.after(() => {
    execFileSync('umount', [mount]);
    rmdirSync(mount);
  });
  return mount;
}

/** Fills the disk of `dir` up to its last `freePages` pages (tmpfs allocates by 4 KiB page). */
function fill(dir: string, freePages: number): void {
  const page = Buffer.alloc(4096);
  const fillers: string[] = [];
  for (let i = 0; ; i++) {
    const filler = path.join(dir, `filler-${i}`);
    try {
      writeFileSync(filler, page);
      fillers.push(filler);
    } catch {
      break;
    }
  }
  for (const filler of fillers.slice(fillers.length - freePages - 1)) unlinkSync(filler);
}

test('keylog -o on a full disk: ENOSPC when it happens, a true count, whole lines only', { timeout: 300_000 }, async (t) => {
  const f = probingFixtures(t);
  if (!f) return;
  const disk = smallDisk(t);
  const out = path.join(disk, 'keys.log');
  const tool = await startCli(['keylog', '--exe', f.server.path, '-o', out], /gokeylog: hooked/);
  try {
    // A first handshake's keys on an empty disk, then the disk fills up: the next keys fill the rest of the
    // key log's last page, and one of them is cut by the full disk.
    const first = await runTraffic({ server: f.server, client: f.client, requests: 1, conns: 1 });
    for (let i = 0; i < 200 && readKeyLogSet(out).size < readKeyLogSet(first.clientKeyLog).size; i++) await sleep(50);
    fill(disk, 0);
    const truth = readKeyLogSet(first.clientKeyLog);
    for (let round = 0; round < 40 && tool.child.exitCode === null; round++) {
      const traffic = await runTraffic({ server: f.server, client: f.client, requests: 1, conns: 2 });
      for (const line of readKeyLogSet(traffic.clientKeyLog)) truth.add(line);
      await sleep(100);
    }
    assert.equal(await tool.exit, 1, `it stops by itself: ${tool.stderr()}`);
    const m = /cannot write the key log: no space left on device \(ENOSPC\), after (\d+) keys\.\n$/.exec(tool.stderr());
    assert.ok(m, tool.stderr());
    const lines = readFileSync(out, 'utf8');
    assert.ok(lines.endsWith('\n'), 'no torn last line');
    const inFile = lines.split('\n').filter(Boolean);
    assert.ok(inFile.length > 4, 'more than the first handshake\'s keys');
    assert.equal(inFile.length, Number(m[1]), 'the count is what the file holds');
    assert.match(tool.stderr(), new RegExp(`; ${m[1]} keys written \\(\\d+ more not written\\),`));
    for (const line of inFile) assert.ok(truth.has(line), `a line the client logged too: ${line.slice(0, 60)}`);
    assert.doesNotMatch(tool.stderr(), /internal error/);
    assert.deepEqual(leftovers(tool.child.pid!), []);
  } finally {
    tool.child.kill('SIGKILL');
    await tool.exit;
  }
});

test('capture -w on a full disk: ENOSPC when it happens, then a summary and a pcapng tshark reads to its end', { timeout: 300_000 }, async (t) => {
  const f = probingFixtures(t);
  if (!f || !requireOrSkip(t, commandExists('tshark'), 'needs tshark')) return;
  const disk = smallDisk(t);
  fill(disk, 16);
  const pcap = path.join(disk, 'capture.pcapng');
  const keyLog = path.join(secretTempDir('full'), 'keys.log');
  const tool = await startCli(['capture', '--exe', f.server.path, '-i', 'lo', '-w', pcap, '--keylog', keyLog, '--hold-ms', '100'], /capturing on/);
  try {
    // Far more than 64 KiB of packets.
    for (let round = 0; round < 20 && tool.child.exitCode === null; round++) await runTraffic({ server: f.server, client: f.client, requests: 20, conns: 2 });
    for (let i = 0; i < 600 && tool.child.exitCode === null; i++) await sleep(50);
    const code = await tool.exit;
    const stderr = tool.stderr();
    assert.equal(code, 1, `it stops by itself: ${stderr}`);
    assert.match(stderr, /gokeylog: cannot write .*capture\.pcapng: no space left on device \(ENOSPC\): stopping the capture\n/);
    assert.match(stderr, /stopped by write error\./);
    const m = /capture\.pcapng keeps (\d+) packets? and (\d+) keys? in (\d+) secrets blocks?, up to its last whole block \((\d+) bytes\)\.\n$/.exec(stderr);
    assert.ok(m, stderr);
    assert.doesNotMatch(stderr, /internal error|EBADF/);
    assert.equal(statSync(pcap).size, Number(m[4]));
    // tshark, the referee: it reads the whole file without "cut short in the middle of a packet", frame for frame.
    const { stdout, stderr: tsharkErr } = await spawnChecked('tshark', ['-n', '-r', pcap, '-T', 'fields', '-e', 'frame.number']);
    assert.doesNotMatch(tsharkErr, /cut short|damaged|corrupt/i);
    assert.equal(stdout.trim().split('\n').filter(Boolean).length, Number(m[1]));
    assert.deepEqual(leftovers(tool.child.pid!), []);
  } finally {
    tool.child.kill('SIGKILL');
    await tool.exit;
  }
});
