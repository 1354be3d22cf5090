import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { once } from 'node:events';
import net from 'node:net';
import path from 'node:path';
import { test } from 'node:test';
import tls from 'node:tls';
import type { NodeStatus } from '../../src/status/status.js';
import { requireOrSkip } from '../support/env.js';
import { loadRealBinaries, newestGo } from '../support/fixtures.js';
import { installAs, lookalike, startUnderWrapper, type WrappedServer } from '../support/lookalike.js';
import { cliArgv } from '../support/paths.js';
import { secretTempDir, testPki } from '../support/pki.js';
import { startEtcd, type RunningEtcd } from '../support/real.js';
import { startCli } from '../support/cli.js';
import { freePort, tsharkFields } from '../support/traffic.js';

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

test('capture --k8s apiserver hooks the server behind its wrapper and captures only its port; conns --k8s lists its connection', async (t) => {
  if (!requireOrSkip(t, process.getuid?.() === 0, 'probes and tcpdump need root')) return;
  const binary = await lookalike(t);
  if (!binary) return;
  const dir = secretTempDir('k8s-cli');
  const port = await freePort();
  const other = await freePort();
  const apiserver = await startUnderWrapper(binary, path.join(dir, 'apiserver'), 'kube-apiserver', [`--secure-port=${port}`]);
  // Traffic on another port of the host must stay out of the capture.
  const bystander = net.createServer((s) => s.pipe(s)).listen(other, '127.0.0.1');
  const peers: tls.TLSSocket[] = [];
  const talk = setInterval(() => {
    for (const p of peers) p.write('x');
  }, 100);
  try {
    const out = path.join(dir, 'apiserver.pcapng');
    const capture = await startCli(['capture', '--k8s', 'apiserver', '-w', out, '--duration', '4'], /capturing on/);
    assert.match(capture.stderr(), new RegExp(`--k8s apiserver: pid [0-9, ]*\\b${apiserver.serverPid}\\b`));
    assert.match(capture.stderr(), new RegExp(`passed over pid ${apiserver.child.pid}: not a Go program`));
    assert.match(capture.stderr(), new RegExp(`capture filter from --k8s: tcp and \\(.*port ${port}\\b`));
    const peer = tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false });
    await once(peer, 'secureConnect');
    peers.push(peer);
    const plain = net.connect(other, '127.0.0.1');
    await once(plain, 'connect');
    plain.end('not for the capture');
    assert.equal(await capture.exit, 0, capture.stderr());
    const ports = new Set((await tsharkFields(out, { filter: 'tcp', fields: ['tcp.srcport', 'tcp.dstport'] })).flat());
    assert.deepEqual([...ports].sort(), [String(port), String(peer.localPort)].sort(), 'only the API server port');

    const conns = spawnSync(process.execPath, [...cliArgv(), 'conns', '--k8s', 'apiserver', '--json', '--sweep', '10'], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(conns.status, 0, conns.stderr);
    const listed = (JSON.parse(conns.stdout) as { connections: Array<{ pid: number; peer: string; status: string }> }).connections;
    assert.ok(listed.some((c) => c.pid === apiserver.serverPid && c.peer === `127.0.0.1:${peer.localPort}`), conns.stdout);
  } finally {
    clearInterval(talk);
    for (const p of peers) p.destroy();
    bystander.close();
    await apiserver.stop('SIGKILL');
  }
});
