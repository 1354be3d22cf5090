// Debian's stripped etcd, etcdctl and kubectl run against the test PKI: the real Kubernetes-shaped
// clients that gokeylog hooks in its end-to-end tests.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isRoot, requireOrSkip } from '../support/env.js';
import { loadFixtures, loadRealBinaries } from '../support/fixtures.js';
import { testPki } from '../support/pki.js';
import { runEtcdctl, runKubectl, startEtcd, startKubeApiFixture } from '../support/real.js';
import { commandExists, secretFileIn, startCapture, tsharkFields } from '../support/traffic.js';

const hostArch = process.arch === 'arm64' ? 'arm64' : 'amd64';

describe('Debian etcd and etcdctl', () => {
  const etcd = loadRealBinaries({ kind: 'etcd', arch: hostArch })[0];
  const etcdctl = loadRealBinaries({ kind: 'etcdctl', arch: hostArch })[0];

  it('put/get through client-certificate auth; a certificate from another CA is refused', async (t) => {
    if (!requireOrSkip(t, etcd !== undefined && etcdctl !== undefined, 'no Debian etcd (run scripts/setup-real.sh)')) return;
    const pki = await testPki();
    const server = await startEtcd({ etcd: etcd!, pki });
    try {
      const put = await runEtcdctl({ etcdctl: etcdctl!, endpoint: server.endpoint, pki, args: ['put', '/registry/pods/default/web', 'v1'] });
      assert.equal(put.stdout.trim(), 'OK');
      const get = await runEtcdctl({ etcdctl: etcdctl!, endpoint: server.endpoint, pki, args: ['get', '/registry/pods/default/web'] });
      assert.deepEqual(get.stdout.trim().split('\n'), ['/registry/pods/default/web', 'v1']);
      const stranger = await testPki({ keyType: 'rsa' });
      await assert.rejects(
        runEtcdctl({
          // A refused handshake is retried until the command timeout: keep it short (the last flag wins).
          etcdctl: etcdctl!, endpoint: server.endpoint, pki,
          args: ['--command-timeout', '2s', 'get', '/registry/pods/default/web'],
          clientCert: { cert: stranger.clientCert, key: stranger.clientKey },
        }),
        /context deadline exceeded/,
      );
      assert.match(server.stderr(), /rejected connection .*certificate signed by unknown authority/);
      assert.doesNotMatch(server.stderr(), /incompatible key usage/);
    } finally {
      await server.stop();
    }
  });
});

describe('Debian kubectl against the tlsserver fixture', () => {
  const kubectl = loadRealBinaries({ kind: 'kubectl', arch: hostArch })[0];
  const server = loadFixtures({ program: 'tlsserver', arch: hostArch, mode: 'exe', stripped: true }).at(-1);

  it('lists pods with its client certificate; tshark sees kubectl\'s request in the decrypted capture', async (t) => {
    if (!requireOrSkip(t, kubectl !== undefined, 'no Debian kubectl (run scripts/setup-real.sh)')) return;
    if (!requireOrSkip(t, server !== undefined, 'no tlsserver fixture (run scripts/setup.sh)')) return;
    if (!requireOrSkip(t, isRoot() && commandExists('tcpdump') && commandExists('tshark'), 'root, tcpdump and tshark are needed')) return;
    const pki = await testPki();
    const api = await startKubeApiFixture({ server: server!, pki });
    const capture = await startCapture({ port: api.port, file: secretFileIn(api.dir, 'kubectl.pcap') });
    try {
      // --raw goes straight to the path, without discovery (/api, /apis).
      const raw = await runKubectl({ kubectl: kubectl!, server: api.url, pki, args: ['get', '--raw', '/api/v1/namespaces/default/pods?limit=2'] });
      await capture.stop();
      assert.equal(raw.code, 0, raw.stderr);
      const list = JSON.parse(raw.stdout) as { kind: string; items: { metadata: { name: string } }[] };
      assert.equal(list.kind, 'PodList');
      assert.deepEqual(list.items.map((p) => p.metadata.name), ['pod-0', 'pod-1']);
      assert.deepEqual(raw.requests, [`GET ${api.url}/api/v1/namespaces/default/pods?limit=2 200`]);
      const rows = await tsharkFields(capture.file, {
        keyLog: api.serverKeyLog, tlsPort: api.port, filter: 'http2.headers.path',
        fields: ['http2.headers.method', 'http2.headers.path', 'http2.headers.user_agent'],
      });
      assert.equal(rows.length, 1);
      assert.equal(rows[0]![0], 'GET');
      assert.equal(rows[0]![1], '/api/v1/namespaces/default/pods?limit=2');
      assert.match(rows[0]![2]!, /^kubectl\/v1\.20\.\d+ /);
    } finally {
      await capture.stop();
      await api.stop();
    }
  });

  it('`kubectl get pods` discovers the API (GET /api, /apis) on the fixture, then lists the pods', async (t) => {
    if (!requireOrSkip(t, kubectl !== undefined, 'no Debian kubectl (run scripts/setup-real.sh)')) return;
    if (!requireOrSkip(t, server !== undefined, 'no tlsserver fixture (run scripts/setup.sh)')) return;
    const pki = await testPki();
    const api = await startKubeApiFixture({ server: server!, pki });
    try {
      const result = await runKubectl({ kubectl: kubectl!, server: api.url, pki, args: ['get', 'pods', '-n', 'default'] });
      const paths = result.requests.map((r) => new URL(r.split(' ')[1]!).pathname);
      assert.deepEqual(paths.slice(0, 2), ['/api', '/apis']);
      // kubectl's own verdict: discovery succeeded and the list call reached the fixture.
      assert.equal(result.code, 0, result.stderr.slice(-500));
      assert.ok(result.requests.some((r) => /^GET \S+\/api\/v1\/namespaces\/default\/pods\?limit=500 200$/.test(r)), result.requests.join('\n'));
      assert.match(result.stdout, /^NAME\s/m);
    } finally {
      await api.stop();
    }
  });
});
