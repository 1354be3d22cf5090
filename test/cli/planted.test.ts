// Binaries an unprivileged user can plant on a node (issue 12, item 3): a sparse file whose .symtab claims
// 3.5 GiB, and one whose only PT_LOAD claims 60 GiB. Read by root's gokeylog they must give one sentence and
// exit 3 (inspect, bpftrace, --reference), and under `keylog --process NAME --follow` a notice while the
// session goes on hooking the real target, never a Node abort that leaves the probe behind.
import assert from 'node:assert/strict';
import { chownSync, copyFileSync, openSync, closeSync, readFileSync, writeSync, ftruncateSync, statSync } from 'node:fs';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { readelfSections, readelfSegments } from '../support/readelf.js';
import { leftovers, missingFrom, privateCopy, readKeyLogSet, requireProbing } from '../probe/harness.js';
import { startCli } from '../support/cli.js';
import { requireOrSkip } from '../support/env.js';
import { loadFixtures, type GoFixture } from '../support/fixtures.js';
import { cliArgv, repoRoot } from '../support/paths.js';
import { secretTempDir, testPki } from '../support/pki.js';
import { runProcess, runTraffic, startProcess, startServer, type ExitedProcess } from '../support/traffic.js';
import { createOtherUser, stickyTempDir } from '../support/users.js';

const GiB = 2 ** 30;

function gokeylog(args: string[]): Promise<ExitedProcess> {
  return runProcess(process.execPath, [...cliArgv(), ...args], { cwd: repoRoot() });
}

function fixture(t: TestContext, program: GoFixture['program'], stripped: boolean): GoFixture | undefined {
  const f = loadFixtures({ program, arch: 'amd64', mode: 'exe', stripped }).at(-1);
  return requireOrSkip(t, f !== undefined, `no ${stripped ? 'stripped' : 'unstripped'} amd64 ${program} fixture (run scripts/setup.sh)`) ? f : undefined;
}

/** Patches the ELF file `file` at `offset` (little-endian 64-bit words). */
function patch(file: string, offset: number, values: bigint[]): void {
  const fd = openSync(file, 'r+');
  try {
    const buf = Buffer.alloc(8 * values.length);
    values.forEach((v, i) => buf.writeBigUInt64LE(v, 8 * i));
    writeSync(fd, buf, 0, buf.length, offset);
  } finally {
    closeSync(fd);
  }
}

function extendSparse(file: string, size: number): void {
  const fd = openSync(file, 'r+');
  try {
    ftruncateSync(fd, size);
  } finally {
    closeSync(fd);
  }
}

/**
 * A copy of an unstripped Go binary (it still runs: the kernel reads no section headers) whose .symtab
 * (found by readelf) claims 3.5 GiB at the end of the file, made that long by a hole.
 */
async function plantHugeSymtab(binary: string, out: string): Promise<void> {
  copyFileSync(binary, out);
  const sections = await readelfSections(binary);
  const index = sections.findIndex((s) => s.name === '.symtab');
  assert.ok(index > 0, 'the unstripped fixture has a .symtab');
  const bytes = readFileSync(binary);
  const shoff = Number(bytes.readBigUInt64LE(40)); // e_shoff (ELF64); e_shentsize is 64
  const at = Math.ceil(bytes.length / 4096) * 4096;
  const size = 3.5 * GiB;
  patch(out, shoff + index * 64 + 24, [BigInt(at), BigInt(size)]); // sh_offset, sh_size
  extendSparse(out, at + size);
}

/** A copy of a stripped Go binary with no section headers and its first read-only PT_LOAD made 60 GiB, a hole. */
async function plantHugeSegment(binary: string, out: string): Promise<void> {
  copyFileSync(binary, out);
  patch(out, 40, [0n]); // e_shoff: no section headers, so the pclntab is searched for in the segments
  const shnum = Buffer.alloc(4); // e_shnum, e_shstrndx
  const fd = openSync(out, 'r+');
  writeSync(fd, shnum, 0, 4, 60);
  closeSync(fd);
  const bytes = readFileSync(binary);
  const phoff = Number(bytes.readBigUInt64LE(32));
  const segments = await readelfSegments(binary);
  const loads = segments.filter((s) => s.type === 'LOAD');
  const index = segments.indexOf(loads.find((s) => !s.flags.includes('E'))!);
  const size = 60 * GiB;
  // The pclntab header is at the segment's start in none of the fixtures: zero its magic so that the scan
  // finds nothing and must give up (or read all 60 GiB).
  for (let at = bytes.indexOf(Buffer.from([0xf1, 0xff, 0xff, 0xff, 0, 0])); at >= 0; at = bytes.indexOf(Buffer.from([0xf1, 0xff, 0xff, 0xff, 0, 0]), at + 1)) {
    const fdz = openSync(out, 'r+');
    writeSync(fdz, Buffer.alloc(1), 0, 1, at);
    closeSync(fdz);
  }
  patch(out, phoff + index * 56 + 32, [BigInt(size), BigInt(size)]); // p_filesz, p_memsz
  extendSparse(out, segments[index]!.offset + size);
}

test('inspect, bpftrace and --reference on a sparse binary whose .symtab claims 3.5 GiB: exit 3, one sentence', async (t) => {
  const server = fixture(t, 'tlsserver', false);
  if (!server) return;
  const planted = path.join(secretTempDir('planted'), 'planted');
  await plantHugeSymtab(server.path, planted);
  assert.equal(statSync(planted).size > 3.5 * GiB, true);
  const sentence = new RegExp(`^gokeylog: ${planted} is not a binary gokeylog reads: its headers point to a table of ${3.5 * GiB} bytes at offset \\d+, more than 256 MiB\\.\\n$`);
  for (const args of [['inspect', planted], ['bpftrace', planted], ['inspect', server.path, '--reference', planted]]) {
    const r = await gokeylog(args);
    assert.equal(r.code, 3, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, sentence, args.join(' '));
  }
});

test('a PT_LOAD scan over a 60 GiB sparse segment gives up with exit 3 instead of reading it all', { timeout: 300_000 }, async (t) => {
  const server = fixture(t, 'tlsserver', true);
  if (!server) return;
  const planted = path.join(secretTempDir('planted'), 'sparse-segment');
  await plantHugeSegment(server.path, planted);
  const r = await gokeylog(['inspect', planted]);
  assert.equal(r.code, 3, r.stderr);
  assert.match(r.stderr, /^gokeylog: .*sparse-segment is not a Go binary \(.*\)\.\n$/);
});

test('keylog --process NAME --follow refuses a planted binary of that name with a notice and keeps hooking the real one', { timeout: 300_000 }, async (t) => {
  if (!requireProbing(t)) return;
  const unstripped = fixture(t, 'tlsserver', false);
  const servers = loadFixtures({ program: 'tlsserver', arch: 'amd64', mode: 'exe', stripped: true });
  const client = fixture(t, 'tlsclient', true);
  if (!unstripped || !client || !requireOrSkip(t, servers.length > 0, 'no stripped tlsserver fixture (run scripts/setup.sh)')) return;
  // A name no other test's processes have: --process NAME hooks every process of that name on the machine.
  const server = privateCopy(servers.at(-1)!, `planted${process.pid}`.slice(0, 15));
  const name = path.basename(server.path);
  // The attacker's copy, under the same name, in a directory of theirs, run by them.
  const attacker = createOtherUser();
  const dir = stickyTempDir('gokeylog-planted');
  const planted = path.join(dir, name);
  await plantHugeSymtab(unstripped.path, planted);
  chownSync(planted, attacker.uid, -1);
  attacker.sh(`cd ${dir} && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=planted -keyout a.key -out a.crt 2>/dev/null`);
  const out = path.join(secretTempDir('planted-keys'), 'keys.log');
  // A first process of the real binary, so that the session starts hooked to it (a uprobe lives on the inode:
  // the processes runTraffic starts later are traced from their first handshake).
  const pki = await testPki();
  const holder = await startServer(server.path, ['-addr', '127.0.0.1:0', '-cert', pki.serverCert, '-key', pki.serverKey]);
  const tool = await startCli(['keylog', '--process', name, '--follow', '-o', out], /gokeylog: hooked/);
  const { process: attack } = await startProcess('runuser', ['-u', attacker.name, '--', planted, '-cert', `${dir}/a.crt`, '-key', `${dir}/a.key`], { ready: /^LISTENING /m });
  try {
    // The candidate is named by /proc/PID/exe (the binary as the kernel runs it, in any mount namespace).
    for (let i = 0; i < 200 && !/not hooking/.test(tool.stderr()); i++) await sleep(50);
    assert.match(tool.stderr(), /gokeylog: not hooking \/proc\/(\d+)\/exe \(pids \1\): \/proc\/\1\/exe is not a binary gokeylog reads: .*more than 256 MiB\.\n/);
    const traffic = await runTraffic({ server, client, requests: 2, conns: 2 });
    const truth = readKeyLogSet(traffic.clientKeyLog);
    for (let i = 0; i < 200 && missingFrom(truth, readKeyLogSet(out)).length > 0; i++) await sleep(50);
    assert.deepEqual(missingFrom(truth, readKeyLogSet(out)), [], 'the real target\'s keys are still written');
    assert.equal(await tool.stop('SIGINT'), 0, tool.stderr());
    assert.doesNotMatch(tool.stderr(), /internal error|Assertion/);
    assert.deepEqual(leftovers(tool.child.pid!), []);
  } finally {
    tool.child.kill('SIGKILL');
    await attack.stop();
    await holder.stop();
  }
});
