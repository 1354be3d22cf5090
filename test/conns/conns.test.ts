import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { builtinLayouts, sweepConns, type ConnRow } from '../../src/conns/index.js';
import { dataDir } from '../../src/util/dataDir.js';
import { startCli } from '../support/cli.js';
import { requireOrSkip } from '../support/env.js';
import { loadFixtures, toolchainRecords, type GoFixture } from '../support/fixtures.js';
import { secretTempDir, testPki, type TestPki } from '../support/pki.js';
import { commandExists, spawnChecked, startProcess, startServer, type RunningServer } from '../support/traffic.js';
import { leftovers, privateCopy, requireProbing } from '../probe/harness.js';
import { TRACEFS } from '../../src/probe/tracefs.js';
import {
  clientFixture, idleSocket, midstreamLines, opensslFacts, runConns, ssConnections, startApiServer, startLongLivedClient, trafficSecrets, type LongLivedClient,
} from './harness.js';

const DAY_MS = 86_400_000;

/** uprobe events (anyone's) still attached through this target's /proc/PID/exe. */
const probesOn = (pid: number): string[] => readFileSync(path.join(TRACEFS, 'uprobe_events'), 'utf8').split('\n').filter((l) => l.includes(` /proc/${pid}/exe:`));

interface Served {
  server: RunningServer;
  fixture: GoFixture;
  clients: LongLivedClient[];
}

/** Servers of one toolchain (stripped exe, PIE, cgo; unstripped exe), each with long-lived clients connected before conns runs. */
async function serveMatrix(t: TestContext, toolchain: string, pki: TestPki): Promise<Served[] | undefined> {
  const client = clientFixture(t);
  const fixtures = [
    ...(['exe', 'pie', 'cgo'] as const).map((mode) => loadFixtures({ program: 'tlsserver', toolchain, arch: 'amd64', mode, stripped: true })[0]),
    loadFixtures({ program: 'tlsserver', toolchain, arch: 'amd64', mode: 'exe', stripped: false })[0],
  ].filter((f): f is GoFixture => f !== undefined);
  if (!client || !requireOrSkip(t, fixtures.length === 4, `no go${toolchain} tlsserver fixtures (run npm run setup)`)) return undefined;
  const served: Served[] = [];
  t.after(async () => {
    for (const s of served) {
      for (const c of s.clients) await c.process.stop();
      await s.server.stop();
    }
  });
  for (const [i, f] of fixtures.entries()) {
    const fixture = privateCopy(f);
    const server = await startApiServer(fixture, pki);
    const entry: Served = { server, fixture, clients: [] };
    served.push(entry);
    const id = `${toolchain}-${fixture.mode}-${fixture.stripped ? 's' : 'u'}`;
    entry.clients.push(await startLongLivedClient(client, pki, server.port, { cn: `system:node:n-${id}`, orgs: ['system:nodes', `team-${i}`], days: 3 + i }));
    // One TLS 1.2 client per toolchain: identity and addresses, and a per-connection word on its keys.
    if (i === 0) entry.clients.push(await startLongLivedClient(client, pki, server.port, { cn: `tls12-${id}`, orgs: ['legacy'], days: 40, tls: '1.2' }));
  }
  return served;
}

function rowOf(rows: ConnRow[], cn: string): ConnRow {
  const found = rows.filter((r) => r.certificate?.commonName === cn);
  assert.equal(found.length, 1, `exactly one row for CN=${cn}: ${JSON.stringify(rows.map((r) => r.certificate?.commonName))}`);
  return found[0]!;
}

/** Another release's table whose Conn offsets differ from `release`'s: a deliberately wrong layout. */
function wrongLayout(release: string, dir: string): string {
  const tables = readdirSync(dataDir('layouts')).map((f) => JSON.parse(readFileSync(path.join(dataDir('layouts'), f), 'utf8')) as { release: string; layouts: { arch: string; structs: Record<string, unknown> }[] });
  const own = tables.find((x) => x.release === release)!;
  const conn = (x: typeof own): string => JSON.stringify(x.layouts.find((l) => l.arch === 'amd64')!.structs['tls.Conn']);
  const other = tables.find((x) => conn(x) !== conn(own))!;
  const file = path.join(dir, `wrong-${release}-from-${other.release}.json`);
  writeFileSync(file, JSON.stringify({ ...other, release }), { mode: 0o600 });
  return file;
}

for (const { version } of toolchainRecords().filter((r) => r.status !== 'missing')) {
  test(`go${version} (stripped exe, PIE, cgo; unstripped): clients connected before conns are listed with their certificate, peer and secrets; a wrong layout is refused`, async (t) => {
    if (!requireProbing(t)) return;
    const pki = await testPki();
    const served = await serveMatrix(t, version, pki);
    if (!served) return;
    const dir = secretTempDir('conns');
    const keylog = path.join(dir, 'midstream.keys');
    const pids = served.flatMap((s) => ['--pid', String(s.server.child.pid)]);
    const run = await runConns([...pids, '--keylog', keylog, '--expiring-within', '7']);
    for (const s of served) assert.deepEqual(probesOn(s.server.child.pid!), [], 'no probe left on the target after the sweep');
    const rows = run.json.connections;
    const ss = await ssConnections();
    const lines = midstreamLines(keylog);
    for (const s of served) {
      const serverPid = s.server.child.pid!;
      const proc = run.json.processes.find((p) => p.pid === serverPid)!;
      assert.equal(proc.layout, `go${version}`, `${s.fixture.id}: its own layout table`);
      assert.equal(proc.refused, 0, s.fixture.id);
      for (const c of s.clients) {
        const row = rowOf(rows, c.cn);
        const referee = await opensslFacts(c.cert);
        const clientSide = ss.find((x) => x.pid === c.pid);
        assert.ok(clientSide, `ss shows the connection of client ${c.pid}`);
        assert.equal(row.pid, serverPid, s.fixture.id);
        assert.equal(row.status, 'tls');
        assert.equal(row.peer, clientSide!.local, 'peer address as ss -tnp shows it');
        assert.equal(row.local, clientSide!.peer);
        assert.equal(row.peerProcess?.pid, c.pid, 'the local peer named like ss -p');
        assert.deepEqual(row.certificate!.organizations, c.orgs);
        assert.equal(row.certificate!.sha256, referee.sha256, 'fingerprint as openssl x509 -fingerprint -sha256');
        assert.equal(row.certificate!.credentialId, `X509SHA256=${referee.sha256.replaceAll(':', '').toLowerCase()}`);
        assert.equal(row.certificate!.notAfter, referee.notAfter);
        assert.equal(row.expiring, Date.parse(referee.notAfter) - Date.now() <= 8 * DAY_MS && row.certificate!.daysLeft <= 7);
        assert.equal(row.side, 'server');
        assert.equal(row.alpn, 'h2');
        const mine = lines.filter((l) => l.client === row.peer);
        if (c.cn.startsWith('tls12-')) {
          assert.equal(row.tlsVersion, 'TLS 1.2');
          assert.match(row.keys!, /^TLS 1\.2: keys not recovered/);
          assert.deepEqual(mine, [], 'no mid-stream line for TLS 1.2');
          continue;
        }
        assert.equal(row.tlsVersion, 'TLS 1.3');
        // The secrets read from the server equal the ones the client's own KeyLogWriter wrote at its handshake.
        const truth = trafficSecrets(c.keyLog);
        assert.deepEqual(mine.map((l) => l.dir).sort(), ['client', 'server'], `two directions for ${c.cn}`);
        for (const l of mine) {
          assert.equal(l.v, '1');
          assert.equal(l.server, row.local);
          assert.equal(l.suite, '0x1301');
          assert.deepEqual([l.secret], l.dir === 'client' ? truth.client : truth.server, `${c.cn} ${l.dir} secret`);
          assert.ok(BigInt(l.seq!) >= 1n, 'records were exchanged before the sweep');
        }
      }
    }
    assert.equal(rows.filter((r) => r.status === 'tls').length, served.reduce((n, s) => n + s.clients.length, 0), 'one row per connection, none invented');

    // A deliberately wrong layout (another release's table) is refused, and nothing is reported for it.
    const target = served[0]!;
    const wrongKeys = path.join(dir, 'wrong.keys');
    const wrong = await runConns(['--pid', String(target.server.child.pid), '--layout', wrongLayout(version, dir), '--sweep', '3', '--keylog', wrongKeys]);
    assert.equal(wrong.json.connections.filter((r) => r.status === 'tls').length, 0, 'no connection from a wrong layout');
    assert.ok(wrong.json.processes[0]!.refused > 0, 'the Conns seen were refused by validation');
    assert.equal(readFileSync(wrongKeys, 'utf8'), '', 'no secret from a wrong layout');
    assert.equal(wrong.json.connections.filter((r) => r.certificate !== null).length, 0);
    for (const s of served) {
      assert.equal(s.server.stderr(), '', `${s.fixture.id} logged no error`);
      assert.equal(s.server.child.exitCode, null, `${s.fixture.id} still serving`);
    }
  });
}

/** The newest stripped server with one long-lived client and one idle TCP connection (which keeps a sweep running). */
async function serverWithIdlePeer(t: TestContext, who: { cn: string; orgs: string[] }): Promise<{ server: RunningServer; client: LongLivedClient; idle: { local: string }; stop(): Promise<void> } | undefined> {
  if (!requireProbing(t)) return undefined;
  const pki = await testPki();
  const fixture = loadFixtures({ program: 'tlsserver', arch: 'amd64', mode: 'exe', stripped: true }).at(-1);
  const clientBinary = clientFixture(t);
  if (!clientBinary || !requireOrSkip(t, fixture !== undefined, 'no tlsserver fixture')) return undefined;
  const server = await startApiServer(privateCopy(fixture!), pki);
  const client = await startLongLivedClient(clientBinary, pki, server.port, { ...who, days: 30 });
  const idle = await idleSocket(server.port);
  return {
    server, client, idle,
    async stop() {
      idle.socket.destroy();
      await client.process.stop();
      await server.stop();
    },
  };
}

test('an established socket without TLS activity is listed as idle, with its addresses', async (t) => {
  const served = await serverWithIdlePeer(t, { cn: 'busy', orgs: [] });
  if (!served) return;
  const { server, idle } = served;
  try {
    const run = await runConns(['--pid', String(server.child.pid), '--sweep', '3']);
    const idleRows = run.json.connections.filter((r) => r.status === 'idle');
    assert.deepEqual(idleRows.map((r) => r.peer), [idle.local]);
    assert.match(idleRows[0]!.note!, /^idle, not seen/);
    assert.equal(idleRows[0]!.peerProcess?.pid, process.pid, 'the idle peer is this test process');
    assert.equal(rowOf(run.json.connections, 'busy').status, 'tls');
    assert.equal(run.json.sweep.complete, false, 'the idle socket kept the sweep to its limit');
  } finally {
    await served.stop();
  }
});

test('the Read/Write probes are gone after the sweep, after SIGINT and SIGTERM, and after kill -9 once conns runs again; the target keeps serving', async (t) => {
  // The idle socket keeps each sweep running until it is interrupted.
  const served = await serverWithIdlePeer(t, { cn: 'steady', orgs: ['ops'] });
  if (!served) return;
  const { server, client: c } = served;
  try {
    const pid = String(server.child.pid);
    for (const signal of ['SIGINT', 'SIGTERM'] as const) {
      const run = await startCli(['conns', '--pid', pid, '--sweep', '60', '--json'], /probing /);
      const code = await run.stop(signal);
      assert.equal(code, 0, run.stderr());
      assert.deepEqual(leftovers(run.child.pid!), [], `no probe left after ${signal}`);
      assert.match(run.stderr(), /interrupted/);
    }
    const killed = await startCli(['conns', '--pid', pid, '--sweep', '60'], /probing /);
    killed.child.kill('SIGKILL');
    assert.equal(await killed.exit, null, 'killed');
    assert.ok(leftovers(killed.child.pid!).length > 0, 'kill -9 leaves the probes behind');
    // Any gokeylog run removes what dead runs left (on this shared machine another one may come first).
    await runConns(['--pid', pid, '--sweep', '1']);
    assert.deepEqual(leftovers(killed.child.pid!), [], 'the next run removed them');
    const before = c.responses();
    for (let i = 0; i < 100 && c.responses() < before + 2; i++) await sleep(100);
    assert.ok(c.responses() >= before + 2, 'the client is still served');
    assert.equal(server.stderr(), '', 'the server logged no error');
    assert.equal(c.process.stderr(), '', 'the client saw no error');
  } finally {
    await served.stop();
  }
});

test('a release without its own table uses a neighbour\'s only when exactly one validates on the live connections', async (t) => {
  if (!requireProbing(t)) return;
  const pki = await testPki();
  const fixture = loadFixtures({ program: 'tlsserver', toolchain: '1.22', arch: 'amd64', mode: 'exe', stripped: true })[0];
  const clientBinary = clientFixture(t);
  if (!clientBinary || !requireOrSkip(t, fixture !== undefined, 'no go1.22 tlsserver fixture')) return;
  const server = await startApiServer(privateCopy(fixture!), pki);
  const c = await startLongLivedClient(clientBinary, pki, server.port, { cn: 'neighbour', orgs: [], days: 30 });
  try {
    // Without go1.22's table: go1.21 (same offsets as measured) and go1.23 (Conn.in moved) are the candidates.
    const tables = builtinLayouts().filter((x) => x.release !== '1.22');
    const result = await sweepConns([server.child.pid!], { maxSeconds: 10, layouts: tables });
    const [p] = result.processes;
    assert.equal(p!.layout, 'go1.21', JSON.stringify(p!.layout));
    assert.deepEqual(p!.conns.map((x) => x.facts.peerCertificate?.commonName), ['neighbour']);
    // With go1.23's table alone, nothing fits: refused, and said so.
    const only23 = await sweepConns([server.child.pid!], { maxSeconds: 3, layouts: builtinLayouts().filter((x) => x.release === '1.23') });
    assert.deepEqual(only23.processes[0]!.conns, []);
    assert.match((only23.processes[0]!.layout as { unknown: string }).unknown, /^layout unknown for go1\.22/);
  } finally {
    await c.process.stop();
    await server.stop();
  }
});

test('a server in a network namespace of its own (as in a pod): its sockets, its peer and the peer process come from that namespace', async (t) => {
  if (!requireProbing(t) || !requireOrSkip(t, commandExists('unshare') && commandExists('nsenter'), 'needs unshare and nsenter (util-linux)')) return;
  const pki = await testPki();
  const fixture = loadFixtures({ program: 'tlsserver', arch: 'amd64', mode: 'exe', stripped: true }).at(-1);
  const clientBinary = clientFixture(t);
  if (!clientBinary || !requireOrSkip(t, fixture !== undefined, 'no tlsserver fixture')) return;
  const server = privateCopy(fixture!);
  // --kill-child: stopping unshare stops the server in the namespace too. exec keeps the server's pid the shell's.
  const ns = await startServer('unshare', ['--net', '--fork', '--kill-child', 'sh', '-c',
    `ip link set lo up && exec ${server.path} -addr 127.0.0.1:0 -cert ${pki.serverCert} -key ${pki.serverKey} -client-ca ${pki.caCert}`]);
  t.after(() => ns.stop());
  const serverPid = (await spawnChecked('pgrep', ['-P', String(ns.child.pid)])).stdout.trim();
  const pair = await pki.makeClientCert({ cn: 'in-the-pod', orgs: ['pods'], days: 30 });
  const { process: client } = await startProcess('nsenter', [`--net=/proc/${serverPid}/ns/net`, clientBinary.path,
    '-url', `https://127.0.0.1:${ns.port}/healthz`, '-n', '100000', '-interval', '1s', '-ca', pki.caCert, '-cert', pair.cert, '-key', pair.key], { ready: /^200 HTTP\/2\.0 /m });
  t.after(() => client.stop());
  const run = await runConns(['--pid', serverPid]);
  const row = rowOf(run.json.connections, 'in-the-pod');
  // The referee: ss inside the namespace (the host's ss does not see it).
  const { stdout } = await spawnChecked('nsenter', [`--net=/proc/${serverPid}/ns/net`, 'ss', '-tnpH', 'state', 'established']);
  const clientLine = stdout.split('\n').find((l) => l.includes(`pid=${client.child.pid},`));
  assert.ok(clientLine, stdout);
  assert.equal(row.peer, clientLine!.trim().split(/\s+/)[2], 'the peer address as ss in the namespace shows it');
  assert.equal(row.peerProcess?.pid, client.child.pid, 'the peer process, found in the same namespace');
  assert.equal(run.json.sweep.complete, true);
});
