// The traffic harness really produces what the other tests rely on: a capture that tshark decrypts with
// the server's own key log, and key logs that agree between both ends — for Go, curl, TLS 1.2 and 1.3.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { describe, it, type TestContext } from 'node:test';
import { isRoot, requireOrSkip } from '../support/env.js';
import { loadFixtures, type GoFixture } from '../support/fixtures.js';
import { commandExists, runTraffic, startProcess, tsharkFields, type TrafficResult } from '../support/traffic.js';

const hostArch = process.arch === 'arm64' ? 'arm64' : 'amd64';
const byToolchain = (a: GoFixture, b: GoFixture): number =>
  Number(a.toolchain.split('.')[1]) - Number(b.toolchain.split('.')[1]);

/** The newest toolchain's tlsserver and tlsclient for this machine, or null before setup. */
function newestPair(): { server: GoFixture; client: GoFixture } | null {
  const pick = (program: GoFixture['program']) =>
    loadFixtures({ program, arch: hostArch, mode: 'exe', stripped: false }).sort(byToolchain).at(-1);
  const server = pick('tlsserver');
  const client = pick('tlsclient');
  return server && client ? { server, client } : null;
}

const keyLogLines = (file: string): string[] =>
  readFileSync(file, 'utf8').split('\n').filter((line) => line !== '').sort();

/** The request paths the client printed (`STATUS PROTO PATH BYTES`). */
const printedPaths = (result: TrafficResult): string[] =>
  result.clientOutput.trim().split('\n').map((line) => line.split(' ')[2]!);

function capturePreconditions(t: TestContext): ReturnType<typeof newestPair> {
  const pair = newestPair();
  if (!requireOrSkip(t, pair !== null, 'no tlsserver/tlsclient fixtures (run scripts/setup.sh)')) return null;
  if (!requireOrSkip(t, isRoot(), 'tcpdump needs root')) return null;
  if (!requireOrSkip(t, commandExists('tcpdump') && commandExists('tshark'), 'tcpdump and tshark are needed')) return null;
  return pair;
}

const PATHS = ['/healthz', '/api/v1/namespaces/default/pods?limit=2', '/apis/apps/v1/namespaces/kube-system/deployments'];

describe('traffic harness', () => {
  it('TLS 1.3 over HTTP/2 with a client certificate: tshark decrypts every request with the server key log', async (t) => {
    const pair = capturePreconditions(t);
    if (!pair) return;
    const result = await runTraffic({ ...pair, tls: '1.3', clientCert: true, requests: 6, conns: 2, paths: PATHS, capture: true });
    assert.deepEqual(printedPaths(result), [...PATHS, ...PATHS]);
    const rows = await tsharkFields(result.pcap!, {
      keyLog: result.serverKeyLog, tlsPort: result.port, filter: 'http2.headers.path', fields: ['http2.headers.path'],
    });
    assert.deepEqual(rows.map((r) => r[0]).sort(), [...PATHS, ...PATHS].sort());
    // Both ends log the same secrets: 4 TLS 1.3 lines per connection.
    const server = keyLogLines(result.serverKeyLog);
    assert.deepEqual(server, keyLogLines(result.clientKeyLog));
    assert.equal(server.length, 8);
    assert.ok(server.every((line) => /^(CLIENT|SERVER)_(HANDSHAKE_TRAFFIC_SECRET|TRAFFIC_SECRET_0) [0-9a-f]{64} [0-9a-f]{64}$/.test(line)));
  });

  it('TLS 1.2 ChaCha20 over HTTP/1.1: CLIENT_RANDOM lines decrypt the capture', async (t) => {
    const pair = capturePreconditions(t);
    if (!pair) return;
    const result = await runTraffic({ ...pair, cipher: 'chacha20', h1: true, requests: 2, paths: PATHS.slice(0, 2), capture: true });
    const rows = await tsharkFields(result.pcap!, {
      keyLog: result.serverKeyLog, tlsPort: result.port, filter: 'http.request', fields: ['tls.record.version', 'http.request.uri'],
    });
    assert.deepEqual(rows.map((r) => r[1]), PATHS.slice(0, 2));
    const suites = await tsharkFields(result.pcap!, {
      tlsPort: result.port, filter: 'tls.handshake.type == 2', fields: ['tls.handshake.ciphersuite'],
    });
    assert.deepEqual(suites, [['0xcca9']]); // TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256
    const server = keyLogLines(result.serverKeyLog);
    assert.deepEqual(server, keyLogLines(result.clientKeyLog));
    assert.match(server.join('\n'), /^CLIENT_RANDOM [0-9a-f]{64} [0-9a-f]{96}$/);
  });

  it('curl as the client (TLS 1.3 ChaCha20): its SSLKEYLOGFILE holds the Go server\'s secrets', async (t) => {
    const pair = capturePreconditions(t);
    if (!pair) return;
    if (!requireOrSkip(t, commandExists('curl'), 'curl is needed')) return;
    const result = await runTraffic({ server: pair.server, client: 'curl', cipher: 'chacha20', clientCert: true, requests: 3, paths: PATHS, capture: true });
    assert.deepEqual(printedPaths(result), PATHS);
    const rows = await tsharkFields(result.pcap!, {
      keyLog: result.clientKeyLog, tlsPort: result.port, filter: 'http2.headers.path', fields: ['http2.headers.path'],
    });
    assert.deepEqual(rows.map((r) => r[0]), PATHS);
    const suites = await tsharkFields(result.pcap!, {
      tlsPort: result.port, filter: 'tls.handshake.type == 2', fields: ['tls.handshake.ciphersuite'],
    });
    assert.deepEqual(suites, [['0x1303']]); // TLS_CHACHA20_POLY1305_SHA256
    // OpenSSL logs more (EXPORTER_SECRET) than Go; every line Go logged is among curl's.
    const client = new Set(keyLogLines(result.clientKeyLog));
    const server = keyLogLines(result.serverKeyLog);
    assert.equal(server.length, 4);
    assert.ok(server.every((line) => client.has(line)));
  });

  it('works with the fixtures of every toolchain and build mode (no capture)', async (t) => {
    const servers = loadFixtures({ program: 'tlsserver', arch: hostArch, stripped: true });
    if (!requireOrSkip(t, servers.length > 0, 'no tlsserver fixtures (run scripts/setup.sh)')) return;
    for (const server of servers.sort(byToolchain)) {
      // tlsclient is only built as a default executable.
      const client = loadFixtures({ program: 'tlsclient', arch: hostArch, mode: 'exe', stripped: true, toolchain: server.toolchain })[0];
      if (!client) continue;
      await t.test(server.id, async () => {
        const result = await runTraffic({ server, client, clientCert: true, requests: 2, paths: PATHS.slice(0, 2) });
        assert.deepEqual(printedPaths(result), PATHS.slice(0, 2));
        assert.deepEqual(keyLogLines(result.serverKeyLog), keyLogLines(result.clientKeyLog));
        assert.equal(keyLogLines(result.serverKeyLog).length, 4);
      });
    }
  });

  it('stops the server even when the client cannot run', async (t) => {
    const pair = newestPair();
    if (!requireOrSkip(t, pair !== null, 'no tlsserver fixture (run scripts/setup.sh)')) return;
    await assert.rejects(runTraffic({ server: pair!.server, client: '/nonexistent/tlsclient' }), /nonexistent\/tlsclient.*ENOENT/);
    assert.deepEqual(childrenRunning(pair!.server.path), []);
  });

  it('a process that never becomes ready is killed and reported', async () => {
    let pid: number | undefined;
    await assert.rejects(
      startProcess('sh', ['-c', 'echo $$ >&2; exec sleep 600'], { ready: /never printed/, timeoutMs: 500 }).catch((error: Error) => {
        pid = Number(/^(\d+)$/m.exec(error.message)?.[1]);
        throw error;
      }),
      /not ready after 500 ms/,
    );
    assert.ok(pid !== undefined && !isAlive(pid), `sh (pid ${pid}) is gone`);
  });
});

/** PIDs of this process's children running `exe` (read from /proc, independently of the harness). */
function childrenRunning(exe: string): number[] {
  return readdirSync('/proc')
    .filter((name) => /^\d+$/.test(name))
    .filter((pid) => {
      try {
        const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
        const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
        return ppid === process.pid && readlinkSync(`/proc/${pid}/exe`) === exe;
      } catch {
        return false; // exited while we looked
      }
    })
    .map(Number);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
