import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TracefsProbes } from '../../src/probe/tracefs.js';
import { GokeylogError } from '../../src/util/errors.js';
import { requireOrSkip } from '../support/env.js';
import { loadFixtures } from '../support/fixtures.js';
import { leftovers, requireProbing } from './harness.js';

test('a definition the kernel refuses is reported with the reason from error_log, and nothing is left behind', async (t) => {
  if (!requireProbing(t)) return;
  const server = loadFixtures({ program: 'tlsserver', arch: 'amd64', mode: 'exe', stripped: true }).at(-1);
  if (!requireOrSkip(t, server !== undefined, 'no stripped amd64 tlsserver fixture (run npm run setup)')) return;
  const probes = TracefsProbes.open({ onRecord: () => {}, onNotice: () => {} });
  try {
    // arm64 registers on this amd64 kernel: well-formed for us, refused by the kernel.
    const reg = (register: string): { register: string } => ({ register });
    const arm64 = { labelPtr: reg('x1'), labelLen: reg('x2'), clientRandomPtr: reg('x3'), clientRandomLen: reg('x4'), secretPtr: reg('x6'), secretLen: reg('x7') };
    assert.throws(
      () => probes.add('wkl0', server!.path, 0x1000n, { arch: 'arm64', args: arm64 }),
      (err: unknown) => err instanceof GokeylogError && /^the kernel refused the uprobe "p:gokeylog_\d+_\d+_\d+(_s\d+)?\/wkl0 .*" \(EINVAL: error: .+\)\.$/.test(err.message),
    );
    assert.equal(probes.has('wkl0'), false);
  } finally {
    probes.close();
  }
  assert.deepEqual(leftovers(process.pid), []);
});
