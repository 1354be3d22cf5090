import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { test } from 'node:test';
import type { NodeStatus } from '../../src/status/status.js';
import { requireOrSkip } from '../support/env.js';
import { loadRealBinaries, newestGo } from '../support/fixtures.js';
import { installAs, lookalike, startUnderWrapper, type WrappedServer } from '../support/lookalike.js';
import { cliArgv } from '../support/paths.js';
import { secretTempDir, testPki } from '../support/pki.js';
import { startEtcd, type RunningEtcd } from '../support/real.js';
import { freePort } from '../support/traffic.js';

const hostArch = process.arch === 'arm64' ? 'arm64' : 'amd64';

function status(args: string[] = []): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [...cliArgv(), 'status', ...args], { encoding: 'utf8', timeout: 120_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** `go version BIN` of the newest toolchain: the referee for the Go version. */
function goVersionOf(binary: string): string {
  const out = spawnSync(newestGo()!, ['version', binary], { encoding: 'utf8' }).stdout;
  return out.trim().split(/\s+/).at(-1)!;
}

test('status lists the real etcd and an API server behind its wrapper, with Go versions as `go version` says, and names the wrapper it passed over', async (t) => {
  const etcdBinary = loadRealBinaries({ kind: 'etcd', arch: hostArch })[0];
  if (!requireOrSkip(t, etcdBinary !== undefined, 'no Debian etcd in the cache (run scripts/setup.sh --tests)')) return;
  const binary = await lookalike(t);
  if (!binary) return;
  const dir = secretTempDir('status');
  let etcd: RunningEtcd | undefined;
  let apiserver: WrappedServer | undefined;
  try {
    etcd = await startEtcd({ etcd: installAs(etcdBinary!.path, path.join(dir, 'etcd'), 'etcd'), pki: await testPki() });
    const port = await freePort();
    apiserver = await startUnderWrapper(binary, path.join(dir, 'apiserver'), 'kube-apiserver', [`--secure-port=${port}`]);
    const json = status(['--json']);
    assert.equal(json.code, 0, json.stderr);
    const report = JSON.parse(json.stdout) as NodeStatus;
    const etcdRow = report.components.find((c) => c.pid === etcd!.child.pid);
    assert.ok(etcdRow, `etcd is listed: ${json.stdout}`);
    assert.equal(etcdRow.component, 'etcd');
    assert.equal(etcdRow.goVersion, etcdBinary!.goVersion);
    assert.equal(etcdRow.hookable, true, etcdRow.verdict);
    assert.ok(etcdRow.ports.includes(etcd.port), 'the client port from its --listen-client-urls');
    const apiRow = report.components.find((c) => c.pid === apiserver!.serverPid);
    assert.ok(apiRow, 'the API server under its wrapper is listed');
    assert.equal(apiRow.component, 'apiserver');
    assert.equal(apiRow.goVersion, goVersionOf(binary));
    assert.equal(apiRow.hookable, true, apiRow.verdict);
    assert.deepEqual(apiRow.ports, [port]);
    assert.ok(report.passedOver.some((p) => p.pid === apiserver!.child.pid && /not a Go program/.test(p.reason)), 'the wrapper is named as passed over');

    const text = status();
    assert.equal(text.code, 0, text.stderr);
    const [header, ...rows] = text.stdout.split('\n');
    assert.match(header!, /^COMPONENT\s+PID\s+CONTAINER\s+GO\s+PORTS\s+HOOKABLE\s+BINARY$/);
    assert.ok(rows.some((r) => r.split(/\s+/).slice(0, 2).join(' ') === `etcd ${etcd!.child.pid}`), 'a plain row per component, awk-able');
    assert.doesNotMatch(text.stdout, /[─│┌┐└┘]/, 'no box drawing');
  } finally {
    await apiserver?.stop('SIGKILL');
    await etcd?.stop('SIGKILL');
  }
});
