// A full disk (issue 12, item 6), on a real small tmpfs: keylog and capture say ENOSPC when it happens, stop by
// themselves with a summary that counts what is really in the file, and leave files their readers take whole
// (the key log in whole lines, as the client's own KeyLogWriter wrote them; the pcapng to its last whole
// block, as tshark reads it).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, readlinkSync, rmdirSync, statSync, statfsSync, unlinkSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { leftovers, probingFixtures, readKeyLogSet } from '../probe/harness.js';
import { startCli } from '../support/cli.js';
import { requireOrSkip } from '../support/env.js';
import { secretTempDir } from '../support/pki.js';
import { testPki } from '../support/fixtures.js';
import { commandExists, runTraffic, spawnChecked, startServer } from '../support/traffic.js';

/** A 1 MiB tmpfs of its own, unmounted when the test ends. */
function smallDisk(t: TestContext): string {
  const mount = mkdtempSync(path.join(os.tmpdir(), 'gokeylog-full-'));
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m,mode=0700', 'tmpfs', mount]);
  t.after(async () => {
    // A process that has just exited may not have released its files yet: retry, and name the holders if it stays busy.
    for (let i = 0; ; i++) {
      try {
        execFileSync('umount', [mount], { stdio: ['ignore', 'ignore', 'pipe'] });
        break;
      } catch (err) {
        if (i === 50) {
          const holders = holdersOf(mount);
          execFileSync('umount', ['--lazy', mount]);
          throw new Error(`${mount} stayed busy (${holders.join('; ') || 'no process holds it'}): ${String(err)}`);
        }
        await sleep(100);
      }
    }
    rmdirSync(mount);
  });
  return mount;
}

/** The processes with a file, or their working directory, under `dir` (what makes umount say "busy"). */
function holdersOf(dir: string): string[] {
  const found: string[] = [];
  for (const pid of readdirSync('/proc').filter((e) => /^\d+$/.test(e))) {
    const links: string[] = [];
    try {
      links.push(readlinkSync(`/proc/${pid}/cwd`), ...readdirSync(`/proc/${pid}/fd`).map((fd) => readlinkSync(`/proc/${pid}/fd/${fd}`)));
    } catch {
      continue; // gone meanwhile
    }
    const held = links.filter((l) => l === dir || l.startsWith(`${dir}/`));
    if (held.length > 0) found.push(`${pid} (${readFileSync(`/proc/${pid}/comm`, 'utf8').trim()}): ${held.join(', ')}`);
  }
  return found;
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

test('keylog -o on a full disk: ENOSPC when it happens, a true count, whole lines only', async (t) => {
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
    assert.equal(await tool.exitWithin(30_000), 1, `it stops by itself: ${tool.stderr()}`);
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

test('capture -w on a full disk: ENOSPC when it happens, then a summary and a pcapng tshark reads to its end', async (t) => {
  const f = probingFixtures(t);
  if (!f || !requireOrSkip(t, commandExists('tshark'), 'needs tshark')) return;
  const disk = smallDisk(t);
  fill(disk, 16);
  const pcap = path.join(disk, 'capture.pcapng');
  const keyLog = path.join(secretTempDir('full'), 'keys.log');
  const pki = await testPki();
  const server = await startServer(f.server.path, ['-addr', '127.0.0.1:0', '-cert', pki.serverCert, '-key', pki.serverKey]);
  const tool = await startCli(['capture', '--pid', String(server.child.pid), '-f', `tcp port ${server.port}`, '-i', 'lo', '-w', pcap, '--keylog', keyLog, '--hold-ms', '100'], /capturing on/);
  try {
    // Traffic until the disk is full (64 KiB free), one connection more, then none: the write that failed may
    // be the last one, and the capture must stop by itself all the same, not wait for more packets to notice.
    const clientKeyLog = path.join(secretTempDir('full-client'), 'client.keylog');
    const client = ['-url', `https://127.0.0.1:${server.port}/`, '-ca', pki.caCert, '-keylog', clientKeyLog, '-n', '5', '-conns', '1', '-path', '/healthz'];
    for (let round = 0; round < 40 && tool.child.exitCode === null && statfsSync(disk).bavail > 0; round++) await spawnChecked(f.client.path, client);
    if (tool.child.exitCode === null) await spawnChecked(f.client.path, client);
    const free = statfsSync(disk);
    const code = await tool.exitWithin(30_000).catch((err: Error) => {
      throw new Error(`${err.message}\n(${free.bavail * free.bsize} bytes free after the traffic; ${statSync(pcap).size} in the capture)`);
    });
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
    await server.stop();
  }
});

test('capture -w on a full disk: packets let out by the hold timer are the write that fails, and the capture stops by itself all the same', async (t) => {
  const f = probingFixtures(t);
  if (!f) return;
  const disk = smallDisk(t);
  fill(disk, 1);
  const pcap = path.join(disk, 'capture.pcapng');
  const pki = await testPki();
  const server = await startServer(f.server.path, ['-addr', '127.0.0.1:0', '-cert', pki.serverCert, '-key', pki.serverKey]);
  const tool = await startCli(['capture', '--pid', String(server.child.pid), '-f', `tcp port ${server.port}`, '-i', 'lo', '-w', pcap, '--hold-ms', '300'], /capturing on/);
  try {
    // A 12 KiB ClientHello the server refuses: no keys ever come, so its packets wait out --hold-ms and leave from
    // a timer, larger than the 4 KiB left, after the connection has closed and no packet is coming.
    const random = Buffer.alloc(32, 0xab);
    const body = Buffer.concat([Buffer.from([0x03, 0x03]), random, Buffer.alloc(12 * 1024, 0xff)]);
    const handshake = Buffer.concat([Buffer.from([0x01, body.length >> 16, (body.length >> 8) & 0xff, body.length & 0xff]), body]);
    const record = Buffer.concat([Buffer.from([0x16, 0x03, 0x01, handshake.length >> 8, handshake.length & 0xff]), handshake]);
    await new Promise<void>((resolve, reject) => {
      const socket = net.connect(server.port, '127.0.0.1', () => socket.end(record));
      socket.on('error', () => resolve()).on('close', () => resolve()).resume();
      setTimeout(() => reject(new Error('the server did not close the connection')), 10_000).unref();
    });
    assert.equal(await tool.exitWithin(30_000), 1, `it stops by itself: ${tool.stderr()}`);
    assert.match(tool.stderr(), /capture\.pcapng: no space left on device \(ENOSPC\): stopping the capture\n/);
    assert.match(tool.stderr(), /stopped by write error\./);
    assert.deepEqual(leftovers(tool.child.pid!), []);
  } finally {
    tool.child.kill('SIGKILL');
    await tool.exit;
    await server.stop();
  }
});
