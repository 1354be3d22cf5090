import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, readlinkSync, unlinkSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { startKeyCapture } from '../../src/probe/index.js';
import { requireOrSkip } from '../support/env.js';
import { loadFixtures, type GoFixture } from '../support/fixtures.js';
import { secretTempDir, testPki, type TestPki } from '../support/pki.js';
import { secretFileIn, spawnChecked, startServer, type RunningServer } from '../support/traffic.js';
import { captureDuring, keyLogSet, missingFrom, privateCopy, readKeyLogSet, requireProbing } from './harness.js';

const stripped = (program: 'tlsserver' | 'tlsclient'): GoFixture[] => loadFixtures({ program, arch: 'amd64', mode: 'exe', stripped: true });
const newest = (program: 'tlsserver' | 'tlsclient'): GoFixture | undefined => stripped(program).at(-1);

function serverArgs(pki: TestPki, certDir = ''): string[] {
  const at = (file: string): string => (certDir ? path.join(certDir, path.basename(file)) : file);
  return ['-addr', '127.0.0.1:0', '-cert', at(pki.serverCert), '-key', at(pki.serverKey)];
}

/** The tlsclient fixture against `port`: `conns` TLS connections; returns the lines of its own key log. */
async function runClient(client: GoFixture, pki: TestPki, port: number, conns: number): Promise<Set<string>> {
  const keyLog = secretFileIn(secretTempDir('client'), 'client.keylog');
  await spawnChecked(client.path, ['-url', `https://127.0.0.1:${port}/`, '-ca', pki.caCert, '-keylog', keyLog, '-n', String(conns), '-conns', String(conns), '-path', '/healthz']);
  return readKeyLogSet(keyLog);
}

function preconditions(t: Parameters<typeof requireProbing>[0]): { server: GoFixture; client: GoFixture } | undefined {
  if (!requireProbing(t)) return undefined;
  const server = newest('tlsserver');
  const client = newest('tlsclient');
  if (!requireOrSkip(t, server !== undefined && client !== undefined, 'no stripped amd64 fixtures (run npm run setup)')) return undefined;
  return { server: server!, client: client! };
}

test('--pid: only the selected process of a binary is logged, the other is ignored', async (t) => {
  const f = preconditions(t);
  if (!f) return;
  const pki = await testPki();
  const a = await startServer(f.server.path, serverArgs(pki));
  const b = await startServer(f.server.path, serverArgs(pki));
  try {
    const { result, lines, stats } = await captureDuring({ pids: [a.child.pid!] }, {}, async () => ({
      a: await runClient(f.client, pki, a.port, 2),
      b: await runClient(f.client, pki, b.port, 2),
    }));
    assert.deepEqual(missingFrom(result.a, lines), []);
    assert.deepEqual([...result.b].filter((l) => lines.has(l)), [], 'no key of the unselected process');
    assert.equal(lines.size, result.a.size);
    assert.ok(stats.ignored >= result.b.size, `hits of the other process were counted as ignored (${stats.ignored})`);
  } finally {
    await a.stop();
    await b.stop();
  }
});

for (const backend of ['tracefs', 'bpftrace'] as const) test(`${backend}: a process in its own mount namespace, its binary under another root, is hooked through --pid alone`, async (t) => {
  const f = preconditions(t);
  if (!f) return;
  if (backend === 'bpftrace' && !requireOrSkip(t, spawnSync('bpftrace', ['--version']).status === 0, 'bpftrace is not installed')) return;
  const pki = await testPki();
  // The tmpfs exists only inside the new mount namespace: on the host, `root` stays an empty directory and the
  // process's executable path (/tlsserver under its chroot) names nothing.
  const root = path.join(secretTempDir('mntns'), 'root');
  mkdirSync(root);
  const setup = [
    `mount -t tmpfs tmpfs ${root}`,
    `cp ${f.server.path} ${root}/tlsserver`,
    `cp ${pki.serverCert} ${pki.serverKey} ${root}/`,
    `exec chroot ${root} /tlsserver ${serverArgs(pki, '/').join(' ')}`,
  ].join(' && ');
  // --kill-child: stopping unshare must stop the chrooted server too, or every run leaves one behind.
  const ns: RunningServer = await startServer('unshare', ['--mount', '--propagation', 'private', '--fork', '--kill-child', 'sh', '-c', setup]);
  try {
    const pid = Number(readFileSync(`/proc/${ns.child.pid}/task/${ns.child.pid}/children`, 'utf8').trim());
    assert.notEqual(readlinkSync(`/proc/${pid}/ns/mnt`), readlinkSync('/proc/self/ns/mnt'), 'the server runs in another mount namespace');
    assert.ok(!existsSync(readlinkSync(`/proc/${pid}/exe`)), 'its binary path names nothing here');
    assert.ok(!existsSync(path.join(root, 'tlsserver')), 'its binary is not visible from here');
    const { result, lines } = await captureDuring({ pids: [pid] }, { backend }, () => runClient(f.client, pki, ns.port, 2), (seen) => seen.size >= 8);
    assert.equal(result.size, 8);
    assert.deepEqual(lines, result);
  } finally {
    await ns.stop();
  }
});

test('--process: matched by command name', async (t) => {
  const f = preconditions(t);
  if (!f) return;
  const pki = await testPki();
  const binary = path.join(secretTempDir('byname'), 'gkl-named-srv');
  copyFileSync(f.server.path, binary);
  const server = await startServer(binary, serverArgs(pki));
  try {
    const { result, lines } = await captureDuring({ processes: ['gkl-named-srv'] }, {}, () => runClient(f.client, pki, server.port, 1));
    assert.equal(result.size, 4);
    assert.deepEqual(lines, result);
  } finally {
    await server.stop();
  }
});

test('--follow: a target restarted onto an upgraded binary at the same path is hooked again, the old one unhooked', async (t) => {
  const f = preconditions(t);
  if (!f) return;
  const servers = stripped('tlsserver');
  // An "upgrade": another toolchain's build when there is one, else a fresh copy (a new inode either way).
  const upgrade = servers.length > 1 ? servers.at(-2)! : f.server;
  const pki = await testPki();
  const binary = path.join(secretTempDir('follow'), 'apiserver');
  copyFileSync(f.server.path, binary);
  let server = await startServer(binary, serverArgs(pki));
  const notices: string[] = [];
  const session = await startKeyCapture({ pids: [server.child.pid!], exes: [], processes: [] }, { follow: true, pollMs: 100, onNotice: (m) => notices.push(m) });
  const lines = new Set<string>();
  session.on('key', (e) => lines.add(`${e.label} ${Buffer.from(e.clientRandom).toString('hex')} ${Buffer.from(e.secret).toString('hex')}`));
  try {
    const before = await runClient(f.client, pki, server.port, 1);
    await server.stop();
    unlinkSync(binary);
    copyFileSync(upgrade.path, binary);
    server = await startServer(binary, serverArgs(pki));
    const pid = server.child.pid!;
    for (let i = 0; i < 200 && !session.targets.some((p) => p.pid === pid); i++) await sleep(50);
    assert.ok(session.targets.some((p) => p.pid === pid), `the restarted server (pid ${pid}) was selected; notices: ${notices.join(' | ')}`);
    const after = await runClient(f.client, pki, server.port, 1);
    const stats = await session.stop();
    assert.deepEqual(missingFrom(before, lines), [], 'keys before the restart');
    assert.deepEqual(missingFrom(after, lines), [], 'keys after the restart');
    assert.equal(stats.binaries, 2);
    assert.ok(notices.some((n) => /^unhooked/.test(n)), 'the old binary was unhooked');
    // Said, not silent (issue 8, defect 6): the exit, and the restart with its new pid.
    assert.ok(notices.some((n) => n.includes(`${binary} runs again as pid ${pid}`)), notices.join(' | '));
    assert.ok(notices.some((n) => /exited; --follow hooks/.test(n)), notices.join(' | '));
  } finally {
    await session.stop();
    await server.stop();
  }
});

test('keys of one connection are written once even though server and client in one process both log them', async (t) => {
  const f = preconditions(t);
  if (!f) return;
  const pki = await testPki();
  const serverBinary = privateCopy(f.server);
  const server = await startServer(serverBinary.path, serverArgs(pki));
  try {
    // Both ends probed: each key is seen twice (once per side), kept once.
    const client = privateCopy(f.client);
    const { result, lines, stats } = await captureDuring({ exes: [serverBinary.path, client.path] }, {}, () => runClient(client, pki, server.port, 2));
    assert.deepEqual(lines, result);
    assert.ok(stats.duplicates >= result.size, `duplicates dropped: ${JSON.stringify(stats)}`);
    assert.deepEqual(keyLogSet([...lines].join('\n')), result);
  } finally {
    await server.stop();
  }
});
