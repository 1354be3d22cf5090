import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ArgLocation, WriteKeyLogArgs } from '../../src/golang/index.js';
import { bpftraceProbe } from '../../src/probe/bpftraceScript.js';
import { tracefsFetchArgs, tracefsProbeLine } from '../../src/probe/fetchArgs.js';

// Argument locations at writeKeyLog's entry, transcribed from the ABI table in DESIGN.md ("Facts the code must
// get right"): the expectations below are written by hand from the same table, not produced by the code.
const reg = (register: string): ArgLocation => ({ register });
const sp = (stackOffset: number): ArgLocation => ({ stackOffset });
const amd64Register: WriteKeyLogArgs = {
  labelPtr: reg('bx'), labelLen: reg('cx'), clientRandomPtr: reg('di'), clientRandomLen: reg('si'), secretPtr: reg('r9'), secretLen: reg('r10'),
};
const arm64Register: WriteKeyLogArgs = {
  labelPtr: reg('x1'), labelLen: reg('x2'), clientRandomPtr: reg('x3'), clientRandomLen: reg('x4'), secretPtr: reg('x6'), secretLen: reg('x7'),
};
const stackAbi: WriteKeyLogArgs = {
  labelPtr: sp(16), labelLen: sp(24), clientRandomPtr: sp(32), clientRandomLen: sp(40), secretPtr: sp(56), secretLen: sp(64),
};

test('tracefs definition, amd64 register ABI (the form DESIGN.md gives)', () => {
  assert.equal(
    tracefsProbeLine('gokeylog_1', 'wkl0', '/proc/42/exe', 0x295360n, { arch: 'amd64', args: amd64Register }),
    'p:gokeylog_1/wkl0 /proc/42/exe:0x295360 lab=+0(%bx):x64[3] labt=+23(%bx):x64 labn=%cx:u64 cr=+0(%di):x64[4] crn=%si:u64 sec=+0(%r9):x64[6] secn=%r10:u64 comm=$comm',
  );
});

test('tracefs fetchargs, arm64 register ABI: x1..x7 as the kernel names them', () => {
  assert.equal(
    tracefsFetchArgs({ arch: 'arm64', args: arm64Register }),
    'lab=+0(%x1):x64[3] labt=+23(%x1):x64 labn=%x2:u64 cr=+0(%x3):x64[4] crn=%x4:u64 sec=+0(%x6):x64[6] secn=%x7:u64 comm=$comm',
  );
});

test('tracefs fetchargs, stack ABI0: pointers dereferenced through SP slots, same offsets on both arches', () => {
  const expected = 'lab=+0(+16(%sp)):x64[3] labt=+23(+16(%sp)):x64 labn=+24(%sp):u64 cr=+0(+32(%sp)):x64[4] crn=+40(%sp):u64 sec=+0(+56(%sp)):x64[6] secn=+64(%sp):u64 comm=$comm';
  assert.equal(tracefsFetchArgs({ arch: 'amd64', args: stackAbi }), expected);
  assert.equal(tracefsFetchArgs({ arch: 'arm64', args: stackAbi }), expected);
});

test('bpftrace probe, amd64 register ABI, at the file offset', () => {
  const probe = bpftraceProbe({ path: '/proc/42/exe', fileOffset: 0x295360n, arch: 'amd64', args: amd64Register });
  assert.match(probe, /^uprobe:\/proc\/42\/exe:0x295360$/m);
  assert.match(probe, /^BEGIN \{ printf\("gokeylog: attached\\n"\); \}$/m, 'says when every probe is attached');
  assert.ok(probe.includes('str(reg("bx"), reg("cx"))'));
  assert.ok(probe.includes('buf(reg("di"), reg("si"))'));
  assert.ok(probe.includes('buf(reg("r9"), reg("r10"))'));
});

test('bpftrace probe, arm64 register ABI: bpftrace calls x1 "r1"', () => {
  const probe = bpftraceProbe({ path: '/usr/bin/kube-apiserver', fileOffset: 0x1000n, arch: 'arm64', args: arm64Register });
  assert.ok(probe.includes('str(reg("r1"), reg("r2"))'));
  assert.ok(probe.includes('buf(reg("r3"), reg("r4"))'));
  assert.ok(probe.includes('buf(reg("r6"), reg("r7"))'));
});

test('bpftrace probe, stack ABI0: 64-bit loads from SP', () => {
  const probe = bpftraceProbe({ path: '/x', fileOffset: 0x10n, arch: 'amd64', args: stackAbi });
  assert.ok(probe.includes('str(*(uint64 *)(reg("sp") + 16), *(uint64 *)(reg("sp") + 24))'));
  assert.ok(probe.includes('buf(*(uint64 *)(reg("sp") + 32), *(uint64 *)(reg("sp") + 40))'));
  assert.ok(probe.includes('buf(*(uint64 *)(reg("sp") + 56), *(uint64 *)(reg("sp") + 64))'));
});

test('definitions refuse what the kernel would misparse', () => {
  assert.throws(() => tracefsProbeLine('g', 'e', '/path with space', 1n, { arch: 'amd64', args: amd64Register }));
  assert.throws(() => tracefsFetchArgs({ arch: 'amd64', args: { ...amd64Register, labelPtr: reg('x1') } }));
  assert.throws(() => tracefsFetchArgs({ arch: 'arm64', args: { ...arm64Register, labelPtr: reg('bx') } }));
  assert.throws(() => tracefsFetchArgs({ arch: 'amd64', args: { ...stackAbi, labelLen: sp(-8) } }));
});
