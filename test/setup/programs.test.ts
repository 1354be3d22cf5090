// The fixture programs behave as the contract says, built by every toolchain: the server answers the
// Kubernetes-like paths, the client prints one line per response, and both key logs agree.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import https from 'node:https';
import { test } from 'node:test';
import { requireOrSkip } from '../support/env.js';
import { goToolchains, loadFixtures, type GoFixture } from '../support/fixtures.js';
import { testPki, type TestPki } from '../support/pki.js';
import { runProcess, runTraffic, startServer } from '../support/traffic.js';

const SETUP_HINT = 'fixtures are missing: run bash scripts/setup.sh --tests';

const keyLogLines = (file: string): string[] => readFileSync(file, 'utf8').split('\n').filter(Boolean).sort();
const labels = (lines: string[]): string[] => [...new Set(lines.map((l) => l.split(' ')[0]!))].sort();

function pairFor(toolchain: string): { server?: GoFixture; client?: GoFixture } {
  const [server] = loadFixtures({ program: 'tlsserver', toolchain, arch: 'amd64', mode: 'exe', stripped: true });
  const [client] = loadFixtures({ program: 'tlsclient', toolchain, arch: 'amd64', mode: 'exe', stripped: true });
  return { server, client };
}

test('every toolchain builds a tlsserver and tlsclient that talk HTTP/2 over TLS 1.3 with a client certificate', async (t) => {
  const toolchains = goToolchains();
  if (!requireOrSkip(t, toolchains.length > 0 && pairFor(toolchains[0]!.version).server !== undefined, SETUP_HINT)) return;
  for (const { version } of toolchains) {
    await t.test(`go ${version}`, async () => {
      const { server, client } = pairFor(version);
      assert.ok(server && client, `go ${version} amd64 exe fixtures are missing`);
      const paths = ['/healthz', '/api/v1/namespaces/default/pods?limit=2', '/nope'];
      const result = await runTraffic({ server, client, clientCert: true, requests: 6, conns: 2, paths });
      assert.deepEqual(result.clientOutput.trim().split('\n').map((l) => l.split(' ').slice(0, 3).join(' ')), [
        '200 HTTP/2.0 /healthz',
        '200 HTTP/2.0 /api/v1/namespaces/default/pods?limit=2',
        '404 HTTP/2.0 /nope',
        '200 HTTP/2.0 /healthz',
        '200 HTTP/2.0 /api/v1/namespaces/default/pods?limit=2',
        '404 HTTP/2.0 /nope',
      ]);
      const serverLines = keyLogLines(result.serverKeyLog);
      // Two connections, four TLS 1.3 secrets each, the same on both ends.
      assert.equal(serverLines.length, 8);
      assert.deepEqual(keyLogLines(result.clientKeyLog), serverLines);
      assert.deepEqual(labels(serverLines), [
        'CLIENT_HANDSHAKE_TRAFFIC_SECRET',
        'CLIENT_TRAFFIC_SECRET_0',
        'SERVER_HANDSHAKE_TRAFFIC_SECRET',
        'SERVER_TRAFFIC_SECRET_0',
      ]);
    });
  }
});

test('oldest and newest toolchains: -h1 and a pinned TLS 1.2 suite give HTTP/1.1 and CLIENT_RANDOM', async (t) => {
  const toolchains = goToolchains();
  if (!requireOrSkip(t, toolchains.length > 0 && pairFor(toolchains[0]!.version).server !== undefined, SETUP_HINT)) return;
  for (const version of new Set([toolchains[0]!.version, toolchains.at(-1)!.version])) {
    for (const cipher of ['aes128gcm', 'aes256gcm', 'chacha20'] as const) {
      await t.test(`go ${version} ${cipher}`, async () => {
        const { server, client } = pairFor(version);
        assert.ok(server && client);
        const result = await runTraffic({ server, client, h1: true, cipher, requests: 2 });
        assert.deepEqual(result.clientOutput.trim().split('\n'), ['200 HTTP/1.1 /healthz 2', '200 HTTP/1.1 /healthz 2']);
        const lines = keyLogLines(result.serverKeyLog);
        assert.deepEqual(labels(lines), ['CLIENT_RANDOM']);
        assert.equal(lines.length, 1, 'two requests on one kept-alive connection: one master secret');
        assert.match(lines[0]!, /^CLIENT_RANDOM [0-9a-f]{64} [0-9a-f]{96}$/);
        assert.deepEqual(keyLogLines(result.clientKeyLog), lines);
      });
    }
  }
});

interface Reply {
  status: number;
  body: string;
  headers: Record<string, string | string[] | undefined>;
}

/** One HTTPS/1.1 request from Node (an independent client) with the test client certificate. */
function request(pki: TestPki, port: number, method: string, path: string, body?: string): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      {
        host: '127.0.0.1', port, method, path, ca: readFileSync(pki.caCert), agent: false,
        cert: readFileSync(pki.clientCert), key: readFileSync(pki.clientKey),
        headers: body === undefined ? {} : { 'content-type': 'application/json' },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text, headers: res.headers }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

test('the newest tlsserver answers the Kubernetes-like paths of the contract', async (t) => {
  const toolchains = goToolchains();
  const server = toolchains.length > 0 ? pairFor(toolchains.at(-1)!.version).server : undefined;
  if (!requireOrSkip(t, server !== undefined, SETUP_HINT)) return;
  const pki = await testPki();
  const running = await startServer(server!.path, [
    '-addr', '127.0.0.1:0', '-cert', pki.serverCert, '-key', pki.serverKey, '-client-ca', pki.caCert,
  ]);
  try {
    const health = await request(pki, running.port, 'GET', '/healthz');
    assert.deepEqual([health.status, health.body], [200, 'ok']);

    const pods = await request(pki, running.port, 'GET', '/api/v1/namespaces/kube-system/pods?limit=4');
    assert.equal(pods.status, 200);
    const podList = JSON.parse(pods.body) as { kind: string; items: { metadata: { namespace: string } }[] };
    assert.equal(podList.kind, 'PodList');
    assert.equal(podList.items.length, 4);
    assert.ok(podList.items.every((p) => p.metadata.namespace === 'kube-system'));

    const list = await request(pki, running.port, 'GET', '/apis/apps/v1/namespaces/default/deployments');
    assert.deepEqual([list.status, (JSON.parse(list.body) as { kind: string }).kind], [200, 'DeploymentList']);
    const created = await request(pki, running.port, 'POST', '/apis/apps/v1/namespaces/default/deployments',
      '{"metadata":{"name":"web"}}');
    assert.equal(created.status, 201);
    assert.deepEqual((JSON.parse(created.body) as { metadata: object }).metadata, {
      name: 'web', namespace: 'default', uid: '00000000-0000-0000-0000-00000000d001',
    });

    const watch = await request(pki, running.port, 'GET', '/api/v1/namespaces/default/pods?watch=1');
    assert.equal(watch.status, 200);
    assert.equal(watch.headers['transfer-encoding'], 'chunked');
    const events = watch.body.trim().split('\n').map((l) => (JSON.parse(l) as { type: string }).type);
    assert.deepEqual(events, ['ADDED', 'MODIFIED', 'DELETED']);

    const missing = await request(pki, running.port, 'GET', '/api/v1/nodes');
    assert.equal(missing.status, 404);
    // Without a client certificate the handshake is refused.
    await assert.rejects(
      new Promise((resolve, reject) => {
        https.get({ host: '127.0.0.1', port: running.port, path: '/healthz', ca: readFileSync(pki.caCert), agent: false }, resolve)
          .on('error', reject);
      }),
    );
  } finally {
    assert.equal(await running.stop(), 0, 'tlsserver exits 0 on SIGTERM');
  }
});

test('notls runs and does not link crypto/tls', async (t) => {
  const [notls] = loadFixtures({ program: 'notls', stripped: false });
  if (!requireOrSkip(t, notls !== undefined, SETUP_HINT)) return;
  const { stdout, code } = await runProcess(notls!.path, []);
  assert.deepEqual([code, stdout], [0, 'notls: no crypto/tls here\n']);
  assert.ok(!readFileSync(notls!.path).includes('crypto/tls.'), 'notls mentions crypto/tls');
});
