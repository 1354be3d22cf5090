import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { parseKeyLog } from '../../src/keylog/index.js';
import { requireOrSkip } from '../support/env.js';
import { dsb, DSB_TYPE, offsetsOf, option, pcapHeader, pcapRecord, secretsBlockAt, sectionLittleEndian, shb, TLS_KEY_LOG } from '../pcap/handBuilt.js';
import { cliArgv } from '../support/paths.js';
import { capinfos, spawnChecked, tsharkFields } from '../support/traffic.js';
import { mergedKeyLog, realTrafficUnavailable, recordTraffic, tsharkHeaders, type RecordedTraffic } from '../pcap/realTraffic.js';

const unavailable = realTrafficUnavailable();
let traffic: RecordedTraffic | undefined;
let dir: string;
before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'gokeylog-inject-'));
  if (!unavailable) traffic = await recordTraffic();
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

function gokeylog(args: string[], stdin?: string): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...cliArgv(), ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
    if (stdin) createReadStream(stdin).pipe(child.stdin);
    else child.stdin.end();
  });
}

async function injectOk(args: string[], stdin?: string): Promise<CliResult> {
  const r = await gokeylog(args, stdin);
  assert.equal(r.code, 0, r.stderr);
  return r;
}

const FRAME_FIELDS = ['frame.cap_len', 'frame.len', 'frame.time_epoch', 'frame.comment', 'frame.interface_id'];

/** What a user sees in Wireshark: every frame, and the decrypted HTTP/2 headers. */
async function view(file: string): Promise<{ frames: string[][]; headers: string[][] }> {
  return { frames: await tsharkFields(file, { fields: FRAME_FIELDS }), headers: await tsharkHeaders(file, traffic!.port) };
}

// What inject wrote is judged by tshark and capinfos, and by its bytes against the pcapng spec (handBuilt.ts),
// never by our own reader.

/** The key log lines inject embedded: the secrets of the DSB right after the first SHB, read off the bytes. */
function injectedLines(bytes: Buffer): string[] {
  const le = sectionLittleEndian(bytes);
  const shbLength = le ? bytes.readUInt32LE(4) : bytes.readUInt32BE(4);
  const block = secretsBlockAt(bytes, shbLength, le);
  assert.equal(block.secretsType, TLS_KEY_LOG);
  return block.secrets.toString('utf8').split('\n').filter((l) => l !== '');
}

const linesOf = async (files: string[]): Promise<string[]> =>
  (await Promise.all(files.map((f) => readFile(f, 'utf8')))).flatMap((text) => text.split('\n')).filter((l) => l !== '' && !l.startsWith('#'));

const keyArgs = (): string[] => traffic!.keyLogs.flatMap((k) => ['--keylog', k]);

test('inject output decrypts in tshark exactly like editcap --inject-secrets output, every frame kept', async (t) => {
  if (!requireOrSkip(t, !unavailable, unavailable ?? '')) return;
  const merged = await mergedKeyLog(traffic!, dir);
  for (const capture of traffic!.captures) {
    const ours = path.join(dir, `ours-${path.basename(capture.file)}.pcapng`);
    const editcap = path.join(dir, `editcap-${path.basename(capture.file)}.pcapng`);
    const r = await injectOk(['inject', ...keyArgs(), capture.file, '-o', ours, '--json']);
    await spawnChecked('editcap', ['--inject-secrets', `tls,${merged}`, capture.file, editcap]);

    const oursView = await view(ours);
    const editcapView = await view(editcap);
    // pcap has no interface ids: compare the input on the other fields.
    const input = await tsharkFields(capture.file, { fields: FRAME_FIELDS.slice(0, 4) });
    assert.deepEqual(oursView.frames.map((f) => f.slice(0, 4)), input, `${capture.name}: frames`);
    assert.deepEqual(oursView.frames, editcapView.frames, `${capture.name}: frames vs editcap`);
    assert.deepEqual(oursView.headers, editcapView.headers, `${capture.name}: decrypted headers vs editcap`);
    // The same as tshark given the key log itself, and nothing without it: the keys came from our block.
    assert.ok(oursView.headers.length >= traffic!.paths.length, `${capture.name}: too little decrypted`);
    assert.deepEqual(oursView.headers, await tsharkHeaders(capture.file, traffic!.port, merged), `${capture.name}: vs the key log option`);
    assert.deepEqual(await tsharkHeaders(capture.file, traffic!.port), []);

    const summary = JSON.parse(r.stdout) as { packets: number; keysInjected: number; outputBytes: number };
    assert.equal(summary.packets, input.length);
    assert.equal(summary.keysInjected, parseKeyLog(await readFile(merged, 'utf8')).entries.length);
    assert.equal(summary.outputBytes, (await stat(ours)).size);
    assert.equal((await stat(ours)).mode & 0o777, 0o600);
    // pcapng order as editcap writes it: SHB, DSB, then the interfaces and packets. Read off the bytes as the
    // format lays them out (block type, total length), and capinfos counts the one DSB.
    const bytes = await readFile(ours);
    const le = sectionLittleEndian(bytes);
    const u32 = (at: number): number => (le ? bytes.readUInt32LE(at) : bytes.readUInt32BE(at));
    const shbLength = u32(4);
    if (capture.format === 'pcap') assert.ok(bytes.subarray(0, shbLength).equals(shb(le, [option(4, 'gokeylog inject', le)])), `${capture.name}: SHB`);
    assert.deepEqual([u32(0), u32(shbLength), u32(shbLength + 8), u32(shbLength + u32(shbLength + 4))], [0x0a0d0d0a, DSB_TYPE, TLS_KEY_LOG, 1], `${capture.name}: SHB, DSB, IDB`);
    // Every line of the key logs given, each once (no key is in two of them).
    assert.deepEqual(injectedLines(bytes).sort(), (await linesOf(traffic!.keyLogs)).sort(), `${capture.name}: the DSB's key log`);
    assert.match(await capinfos(ours), /Number of decryption secrets in file: 1\n/);
  }
});

test('pcapng input: comments and existing DSBs kept, or discarded with --discard-secrets', async (t) => {
  if (!requireOrSkip(t, !unavailable, unavailable ?? '')) return;
  const capture = traffic!.captures.find((c) => c.format === 'pcapng')!;
  const commented = path.join(dir, 'commented.pcapng');
  await spawnChecked('editcap', ['-a', '3:third frame', '-a', '5:fifth frame', '--inject-secrets', `tls,${traffic!.keyLogs[0]}`, capture.file, commented]);
  const kept = path.join(dir, 'kept.pcapng');
  await injectOk(['inject', '--keylog', traffic!.keyLogs[1]!, commented, '-o', kept]);
  const keptView = await view(kept);
  assert.deepEqual(keptView.frames, (await view(commented)).frames);
  assert.deepEqual(keptView.frames.filter((f) => f[3] !== '').map((f) => f[3]), ['third frame', 'fifth frame']);
  // Two DSBs, built by hand: ours with the key log given, right after the SHB, and editcap's, copied as it was.
  const keptBytes = await readFile(kept);
  const le = sectionLittleEndian(keptBytes);
  const ours = dsb(le, TLS_KEY_LOG, await readFile(traffic!.keyLogs[1]!));
  const editcaps = dsb(le, TLS_KEY_LOG, await readFile(traffic!.keyLogs[0]!));
  const shbLength = le ? keptBytes.readUInt32LE(4) : keptBytes.readUInt32BE(4);
  assert.deepEqual(offsetsOf(keptBytes, ours), [shbLength]);
  assert.equal(offsetsOf(keptBytes, editcaps).length, 1);
  assert.equal(offsetsOf(await readFile(commented), editcaps).length, 1);
  assert.match(await capinfos(kept), /Number of decryption secrets in file: 2\n/);
  // Both key logs are in play: TLS 1.3 (from the input's DSB) and TLS 1.2 (ours) connections decrypt.
  assert.deepEqual(keptView.headers, await tsharkHeaders(capture.file, traffic!.port, await mergedKeyLog(traffic!, dir)));

  const discarded = path.join(dir, 'discarded.pcapng');
  const r = await injectOk(['inject', '--keylog', traffic!.keyLogs[1]!, commented, '-o', discarded, '--discard-secrets', '--json']);
  const discardedBytes = await readFile(discarded);
  assert.deepEqual(offsetsOf(discardedBytes, ours), [shbLength]);
  assert.deepEqual(offsetsOf(discardedBytes, editcaps), []);
  assert.match(await capinfos(discarded), /Number of decryption secrets in file: 1\n/);
  assert.equal((JSON.parse(r.stdout) as { secretsBlocksDiscarded: number }).secretsBlocksDiscarded, 1);
});

test('--only-needed keeps the keys of the connections in the capture and drops the rest', async (t) => {
  if (!requireOrSkip(t, !unavailable, unavailable ?? '')) return;
  const capture = traffic!.captures[1]!; // SLL2
  const stranger = path.join(dir, 'stranger.keylog');
  const strangerLines = [`CLIENT_RANDOM ${'5a'.repeat(32)} ${'01'.repeat(48)}`, `CLIENT_TRAFFIC_SECRET_0 ${'6b'.repeat(32)} ${'02'.repeat(32)}`];
  await writeFile(stranger, `# not from this capture\n${strangerLines.join('\n')}\n`, { mode: 0o600 });
  const out = path.join(dir, 'needed.pcapng');
  const r = await injectOk(['inject', '--keylog', stranger, ...keyArgs(), capture.file, '-o', out, '--only-needed', '--json']);
  const summary = JSON.parse(r.stdout) as { keysInjected: number; keysDropped: number };
  // The referee for "needed": the client randoms of the ClientHellos tshark finds in the capture.
  const hellos = new Set((await tsharkFields(capture.file, { tlsPort: traffic!.port, filter: 'tls.handshake.type == 1', fields: ['tls.handshake.random'] })).map(([r]) => r!.replaceAll(':', '')));
  const real = (await Promise.all(traffic!.keyLogs.map((k) => readFile(k, 'utf8')))).flatMap((text) => parseKeyLog(text).entries);
  const needed = real.filter((e) => hellos.has(Buffer.from(e.clientRandom).toString('hex')));
  assert.ok(needed.length > 0);
  assert.equal(summary.keysInjected, needed.length);
  assert.equal(summary.keysDropped, 2 + real.length - needed.length);
  // The DSB holds exactly the given lines whose client random (the second field) tshark saw in a ClientHello.
  const neededLines = (await linesOf(traffic!.keyLogs)).filter((l) => hellos.has(l.split(' ')[1]!.toLowerCase()));
  assert.equal(neededLines.length, needed.length);
  assert.deepEqual(injectedLines(await readFile(out)).sort(), neededLines.sort());
  assert.deepEqual((await view(out)).headers, await tsharkHeaders(capture.file, traffic!.port, await mergedKeyLog(traffic!, dir)));
});

test('standard input to a pcapng, with a summary on stderr', async (t) => {
  if (!requireOrSkip(t, !unavailable, unavailable ?? '')) return;
  const capture = traffic!.captures[0]!;
  const out = path.join(dir, 'stdin.pcapng');
  const r = await injectOk(['inject', ...keyArgs(), '-', '-o', out], capture.file);
  const frames = (await view(out)).frames.length;
  assert.match(r.stderr, new RegExp(`^${out.replace(/[.]/g, '\\.')}: ${frames} packets, \\d+ keys injected; \\d+ bytes read, \\d+ written\\.\\n$`));
  assert.deepEqual((await view(out)).headers, await tsharkHeaders(capture.file, traffic!.port, await mergedKeyLog(traffic!, dir)));
});

test('bad input and usage: one sentence and the documented exit code', async () => {
  const keys = path.join(dir, 'k.log');
  await writeFile(keys, `CLIENT_RANDOM ${'11'.repeat(32)} ${'22'.repeat(48)}\n`, { mode: 0o600 });
  const notCapture = path.join(dir, 'not-a-capture');
  await writeFile(notCapture, 'hello, this is not a capture at all');
  const out = path.join(dir, 'never.pcapng');

  const missingKeys = await gokeylog(['inject', '--keylog', path.join(dir, 'nope.log'), notCapture, '-o', out]);
  assert.equal(missingKeys.code, 4);
  assert.match(missingKeys.stderr, /^gokeylog: cannot read key log .*nope\.log: no such file\.\n$/);

  const foreign = await gokeylog(['inject', '--keylog', keys, notCapture, '-o', out]);
  assert.equal(foreign.code, 3);
  assert.match(foreign.stderr, /^gokeylog: .*not-a-capture is not a pcap or pcapng file \(magic 0x68656c6c at byte offset 0\)\.\n$/);
  await assert.rejects(stat(out), /ENOENT/); // no partial output left behind

  // A pcap header's link type has 26 bits, a pcapng interface block's 16 (this one once gave "internal error", exit 1).
  const wideLinkType = path.join(dir, 'linktype-70000.pcap');
  await writeFile(wideLinkType, Buffer.concat([pcapHeader(true, false, 70000), pcapRecord(true, 1, 0, Buffer.from('abcd'))]));
  const unknownLink = await gokeylog(['inject', '--keylog', keys, wideLinkType, '-o', out]);
  assert.equal(unknownLink.code, 3, unknownLink.stderr);
  assert.match(unknownLink.stderr, /^gokeylog: link type 70000 does not fit in a pcapng interface block \(at most 65535\): not a capture pcapng can hold\.\n$/);
  await assert.rejects(stat(out), /ENOENT/);

  const same = await gokeylog(['inject', '--keylog', keys, notCapture, '-o', notCapture]);
  assert.equal(same.code, 2);
  assert.match(same.stderr, /is the input/);

  const twiceFromStdin = await gokeylog(['inject', '--keylog', keys, '--only-needed', '-', '-o', out]);
  assert.equal(twiceFromStdin.code, 2);
  assert.match(twiceFromStdin.stderr, /^gokeylog: --only-needed reads the input twice, so it needs a file, not standard input\.\nSee 'gokeylog inject --help'\.\n$/);

  const noOutput = await gokeylog(['inject', '--keylog', keys, notCapture]);
  assert.equal(noOutput.code, 2);
  assert.match(noOutput.stderr, /--output/);

  const help = await gokeylog(['inject', '--help']);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /Examples:\n  gokeylog inject --keylog keys\.log capture\.pcap -o decrypted\.pcapng/);
});

test('a truncated capture fails with its offset and leaves no output', async (t) => {
  if (!requireOrSkip(t, !unavailable, unavailable ?? '')) return;
  const capture = traffic!.captures[3]!;
  const whole = await readFile(capture.file);
  const cut = path.join(dir, 'cut.pcapng');
  await writeFile(cut, whole.subarray(0, whole.length - 7));
  const out = path.join(dir, 'cut-out.pcapng');
  const r = await gokeylog(['inject', ...keyArgs(), cut, '-o', out]);
  assert.equal(r.code, 3);
  assert.match(r.stderr, /^gokeylog: .*cut\.pcapng is truncated: the block at byte offset \d+ needs \d+ bytes but only \d+ remain\.\n$/);
  await assert.rejects(stat(out), /ENOENT/);
});
