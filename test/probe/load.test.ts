import assert from 'node:assert/strict';
import { test } from 'node:test';
import { planHook } from '../../src/golang/index.js';
import { startKeyCapture } from '../../src/probe/index.js';
import { requireOrSkip } from '../support/env.js';
import { loadFixtures, loadRealBinaries } from '../support/fixtures.js';
import { runTraffic } from '../support/traffic.js';
import { captureDuring, leftovers, missingFrom, privateCopy, readKeyLogSet, requireProbing } from './harness.js';

for (const tracePipe of ['text', 'raw'] as const) test(`load: 1,000 TLS 1.3 handshakes under the probe (trace_pipe${tracePipe === 'raw' ? '_raw' : ''}), no key lost, no reject`, async (t) => {
  if (!requireProbing(t)) return;
  const shared = loadFixtures({ program: 'tlsserver', arch: 'amd64', mode: 'exe', stripped: true }).at(-1);
  const server = shared && privateCopy(shared);
  const client = loadFixtures({ program: 'tlsclient', arch: 'amd64', mode: 'exe', stripped: true }).at(-1);
  if (!requireOrSkip(t, server !== undefined && client !== undefined, 'no stripped amd64 fixtures (run npm run setup)')) return;
  const { result, lines, stats, rejects, keys } = await captureDuring({ exes: [server!.path] }, { tracePipe }, () =>
    runTraffic({ server: server!, client: client!, requests: 1000, conns: 1000, timeoutMs: 300_000 }),
  );
  const truth = readKeyLogSet(result.clientKeyLog);
  assert.equal(truth.size, 4000, 'the client made 1,000 handshakes');
  assert.deepEqual(missingFrom(truth, lines).length, 0, JSON.stringify({ stats, rejects: rejects.slice(0, 3) }));
  assert.equal(lines.size, truth.size);
  assert.deepEqual(rejects, []);
  assert.equal(stats.lost, 0);
  assert.equal(stats.processes, 1);
  assert.ok(keys.every((k) => k.comm === 'tlsserver'));
});

test('the kernel accepts the stack-ABI (Go < 1.17) probe definition', async (t) => {
  if (!requireProbing(t)) return;
  // The oldest Go TLS program at hand: a go1.15 fixture when built, else a real go1.15/1.16 binary (esbuild).
  const candidates = [
    ...loadFixtures({ program: 'tlsserver', toolchain: '1.15', arch: 'amd64', stripped: true }).map((f) => f.path),
    ...loadRealBinaries({ kind: 'esbuild', arch: 'amd64' }).filter((b) => b.hasTls && /^go1\.1[56]\b/.test(b.goVersion)).map((b) => b.path),
  ];
  if (!requireOrSkip(t, candidates.length > 0, 'no Go 1.15/1.16 TLS binary (run npm run setup)')) return;
  const plan = await planHook(candidates[0]!);
  assert.equal(plan.abi, 'stack');
  const notices: string[] = [];
  const session = await startKeyCapture({ pids: [], exes: [candidates[0]!], processes: [] }, { onNotice: (m) => notices.push(m) });
  await session.stop();
  assert.ok(notices.some((n) => n.startsWith(`hooked ${plan.goVersion} stack-ABI`)), notices.join(' | '));
  assert.deepEqual(leftovers(process.pid), []);
});
