// conns on the fixture API server with Debian's kubectl as the long-lived client: `kubectl proxy` keeps ONE
// TLS connection to the server for every request it forwards, as kubelet and the controllers do.
import assert from 'node:assert/strict';
import http from 'node:http';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { requireOrSkip } from '../support/env.js';
import { loadFixtures, loadRealBinaries } from '../support/fixtures.js';
import { testPki } from '../support/pki.js';
import { kubectlSetup } from '../support/real.js';
import { startProcess } from '../support/traffic.js';
import { privateCopy, requireProbing } from '../probe/harness.js';
import { opensslFacts, runConns, ssConnections, startApiServer } from './harness.js';

const get = (url: string): Promise<number> =>
  new Promise((resolve, reject) => http.get(url, (res) => res.resume().on('end', () => resolve(res.statusCode ?? 0))).on('error', reject));

test('Debian kubectl (proxy, one long-lived connection) against the fixture API server: conns names it, its certificate and its peer as openssl and ss do', async (t) => {
  if (!requireProbing(t)) return;
  const [kubectl] = loadRealBinaries({ kind: 'kubectl', arch: 'amd64' });
  const fixture = loadFixtures({ program: 'tlsserver', arch: 'amd64', mode: 'exe', stripped: true }).at(-1);
  if (!requireOrSkip(t, kubectl !== undefined && fixture !== undefined, 'no Debian kubectl or tlsserver fixture (run npm run setup)')) return;
  const pki = await testPki();
  const server = await startApiServer(privateCopy(fixture!), pki);
  t.after(() => server.stop());
  const clientCert = await pki.makeClientCert({ cn: 'system:kube-controller-manager', orgs: ['system:controllers'], days: 4 });
  const { args, env } = kubectlSetup({ pki, clientCert, server: `https://127.0.0.1:${server.port}` });
  const { process: proxy, match } = await startProcess(kubectl!.path, [...args, 'proxy', '--port', '0'], { env, ready: /Starting to serve on 127\.0\.0\.1:(\d+)/ });
  t.after(() => proxy.stop());
  const base = `http://127.0.0.1:${match[1]}`;
  // Requests through the proxy before and during the sweep: one connection carries them all.
  assert.equal(await get(`${base}/healthz`), 200);
  let polling = true;
  const poller = (async () => {
    while (polling) {
      await get(`${base}/api/v1/namespaces/default/pods?limit=1`);
      await sleep(200);
    }
  })();
  try {
    const run = await runConns(['--pid', String(server.child.pid), '--sweep', '10']);
    const row = run.json.connections.find((r) => r.certificate?.commonName === 'system:kube-controller-manager');
    assert.ok(row, JSON.stringify(run.json.connections.map((r) => [r.status, r.peer])));
    const referee = await opensslFacts(clientCert.cert);
    const kubectlSide = (await ssConnections()).find((s) => s.pid === proxy.child.pid && s.peer === `127.0.0.1:${server.port}`);
    assert.ok(kubectlSide, 'ss shows kubectl connected to the server');
    assert.equal(row!.peer, kubectlSide!.local);
    assert.equal(row!.peerProcess?.comm, 'kubectl');
    assert.deepEqual(row!.certificate!.organizations, ['system:controllers']);
    assert.equal(row!.certificate!.sha256, referee.sha256);
    assert.equal(row!.certificate!.notAfter, referee.notAfter);
    assert.equal(row!.expiring, true, 'four days left is within the default 30');
    assert.equal(run.json.connections.filter((r) => r.status === 'tls').length, 1, 'kubectl keeps one connection');
  } finally {
    polling = false;
    await poller;
  }
});
