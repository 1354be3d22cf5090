import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { startKeyCapture, type KeyEvent } from '../../src/probe/index.js';
import { formatKeyLogLine } from '../../src/keylog/index.js';
import { requireOrSkip } from '../support/env.js';
import { loadFixtures, loadRealBinaries, type GoFixture, type RealBinary } from '../support/fixtures.js';
import { secretTempDir, testPki, type TestPki } from '../support/pki.js';
import { freePort, runTraffic, secretFileIn, spawnChecked, startCapture, startProcess, startServer } from '../support/traffic.js';
import { captureDuring, leftovers, missingFrom, privateCopy, readKeyLogSet, requireProbing, tsharkHttp2Paths } from './harness.js';

function newestServer(t: TestContext): GoFixture | undefined {
  const server = loadFixtures({ program: 'tlsserver', arch: 'amd64', mode: 'exe', stripped: true }).at(-1);
  return requireOrSkip(t, server !== undefined, 'no stripped amd64 tlsserver fixture (run npm run setup)') ? privateCopy(server!) : undefined;
}

function real(t: TestContext, kind: RealBinary['kind']): RealBinary[] {
  const found = loadRealBinaries({ kind, arch: 'amd64' });
  requireOrSkip(t, found.length > 0, `no real ${kind} binary (run npm run setup)`);
  return found.map((b) => privateCopy(b));
}

/** A fixture API server that requires client certificates and writes its own key log (the truth). */
async function apiServer(server: GoFixture, pki: TestPki): Promise<{ stop: () => Promise<unknown>; port: number; keyLog: string }> {
  const keyLog = secretFileIn(secretTempDir('api'), 'server.keylog');
  const s = await startServer(server.path, ['-addr', '127.0.0.1:0', '-cert', pki.serverCert, '-key', pki.serverKey, '-client-ca', pki.caCert, '-keylog', keyLog]);
  return { stop: () => s.stop(), port: s.port, keyLog };
}

test('curl as the peer: keys probed from the server equal curl\'s SSLKEYLOGFILE (TLS 1.3 ChaCha20-Poly1305)', async (t) => {
  if (!requireProbing(t)) return;
  const server = newestServer(t);
  if (!server) return;
  const { result, lines } = await captureDuring({ exes: [server.path] }, {}, () =>
    runTraffic({ server, client: 'curl', tls: '1.3', cipher: 'chacha20', requests: 2, conns: 2 }),
  );
  // OpenSSL also logs EXPORTER_SECRET, which Go never passes to writeKeyLog.
  const truth = new Set([...readKeyLogSet(result.clientKeyLog)].filter((l) => !l.startsWith('EXPORTER_SECRET ')));
  assert.equal(truth.size, 8);
  assert.deepEqual(lines, truth);
});

test('kubectl (Debian kubernetes-client) against the fixture API server: kubectl\'s keys equal the server\'s key log', async (t) => {
  if (!requireProbing(t)) return;
  const server = newestServer(t);
  const [kubectl] = real(t, 'kubectl');
  if (!server || !kubectl) return;
  const pki = await testPki();
  const api = await apiServer(server, pki);
  try {
    const { lines, keys } = await captureDuring({ exes: [kubectl.path] }, {}, () =>
      spawnChecked(kubectl.path, [
        '--server', `https://127.0.0.1:${api.port}`, '--certificate-authority', pki.caCert,
        '--client-certificate', pki.clientCert, '--client-key', pki.clientKey, '--kubeconfig', '/dev/null',
        'get', '--raw', '/api/v1/namespaces/default/pods?limit=1',
      ]),
    );
    assert.ok(lines.size >= 4);
    assert.deepEqual(lines, readKeyLogSet(api.keyLog));
    assert.ok(keys.every((k) => k.comm === 'kubectl'));
  } finally {
    await api.stop();
  }
});

test('buf curl from several npm releases (Go 1.19 … 1.27): buf\'s keys equal the server\'s key log', async (t) => {
  if (!requireProbing(t)) return;
  const server = newestServer(t);
  const bufs = real(t, 'buf');
  if (!server || bufs.length === 0) return;
  const pki = await testPki();
  const dir = secretTempDir('buf');
  const schema = path.join(dir, 'schema');
  mkdirSync(path.join(schema, 'pkg'), { recursive: true });
  writeFileSync(path.join(schema, 'pkg', 'svc.proto'), 'syntax = "proto3";\npackage pkg;\nmessage Req {}\nmessage Res {}\nservice Svc { rpc Method(Req) returns (Res); }\n');
  for (const buf of bufs) {
    await t.test(`${buf.source} (${buf.goVersion})`, async () => {
      const api = await apiServer(server, pki);
      try {
        const { lines } = await captureDuring({ exes: [buf.path] }, {}, async () => {
          // The fixture answers 404, so buf curl fails after the handshake: the keys are what this is about.
          await spawnChecked(buf.path, ['curl', '-k', '--cert', pki.clientCert, '--key', pki.clientKey, '--schema', schema, '--data', '{}',
            `https://127.0.0.1:${api.port}/pkg.Svc/Method`], { env: { ...process.env, BUF_CACHE_DIR: path.join(dir, 'cache') } }).catch(() => undefined);
        });
        const truth = readKeyLogSet(api.keyLog);
        assert.ok(truth.size >= 4, `the server saw a handshake from ${buf.id}`);
        assert.deepEqual(lines, truth);
      } finally {
        await api.stop();
      }
    });
  }
});

test('Debian etcd with client-certificate auth and etcdctl: each side\'s probed keys match, tshark decrypts the gRPC call', async (t) => {
  if (!requireProbing(t)) return;
  const [etcd] = real(t, 'etcd');
  const [etcdctl] = real(t, 'etcdctl');
  if (!etcd || !etcdctl) return;
  const pki = await testPki();
  const dir = secretTempDir('etcd');
  const [clientPort, peerPort] = [await freePort(), await freePort()];
  const { process: server } = await startProcess(etcd.path, [
    '--name', 'gkl', '--data-dir', path.join(dir, 'data'),
    '--listen-client-urls', `https://127.0.0.1:${clientPort}`, '--advertise-client-urls', `https://127.0.0.1:${clientPort}`,
    '--listen-peer-urls', `http://127.0.0.1:${peerPort}`, '--initial-advertise-peer-urls', `http://127.0.0.1:${peerPort}`,
    '--initial-cluster', `gkl=http://127.0.0.1:${peerPort}`,
    '--cert-file', pki.serverCert, '--key-file', pki.serverKey, '--client-cert-auth', '--trusted-ca-file', pki.caCert,
  ], { ready: /ready to serve client requests/, readyOn: 'stderr' });
  const capture = await startCapture({ port: clientPort, file: secretFileIn(dir, 'etcd.pcap') });
  // Two sessions, one per side: a single session would drop the second copy of each key as a duplicate.
  const serverSide = await startKeyCapture({ pids: [server.child.pid!], exes: [], processes: [] });
  const clientSide = await startKeyCapture({ pids: [], exes: [etcdctl.path], processes: [] });
  const serverKeys: KeyEvent[] = [];
  const clientKeys: KeyEvent[] = [];
  serverSide.on('key', (e) => serverKeys.push(e));
  clientSide.on('key', (e) => clientKeys.push(e));
  try {
    await spawnChecked(etcdctl.path, ['--endpoints', `https://127.0.0.1:${clientPort}`, '--cacert', pki.caCert, '--cert', pki.clientCert, '--key', pki.clientKey, 'put', 'gokeylog', 'works'],
      { env: { ...process.env, ETCDCTL_API: '3' } });
  } finally {
    await clientSide.stop();
    await serverSide.stop();
    await capture.stop();
    await server.stop();
  }
  assert.deepEqual(leftovers(process.pid), []);
  const fromClient = new Set(clientKeys.map(formatKeyLogLine));
  const fromServer = new Set(serverKeys.map(formatKeyLogLine));
  assert.ok(fromClient.size >= 4, `etcdctl logged keys (${fromClient.size})`);
  assert.deepEqual(missingFrom(fromClient, fromServer), [], 'etcd logged every key etcdctl logged');
  const paths = await tsharkHttp2Paths(capture.file, fromClient, dir);
  assert.ok(paths.includes('/etcdserverpb.KV/Put'), `tshark decrypted etcdctl's call (saw ${JSON.stringify(paths)})`);
});
