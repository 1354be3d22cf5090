// Debian's stripped kubectl (a real Kubernetes client: its own user agent, HTTP/2, client certificate)
// against the fixture API server: the requests we decode equal kubectl's own -v=6 log and tshark's list,
// and the identity is the certificate kubectl was given.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { isRoot, requireOrSkip } from '../support/env.js';
import { loadFixtures, loadRealBinaries, testPki } from '../support/fixtures.js';
import { runKubectl, startKubeApiFixture } from '../support/real.js';
import { commandExists, startCapture, tsharkFields } from '../support/traffic.js';
import { runAnalyze } from './cli.js';

const hostArch = process.arch === 'arm64' ? 'arm64' : 'amd64';

interface Report {
  connections: Array<{ decrypted: boolean; reason?: string; alpn: string | null; clientCertificate?: { commonName: string } }>;
  requests: Array<{ method: string; path: string; status: number | null; complete: boolean; userAgent: string; kube: { verb: string; resource?: string; namespace?: string } }>;
  identities: Array<{ user: string; groups: string[]; requests: number }>;
}

test('kubectl --raw list and watch: requests equal kubectl -v=6 and tshark; identity from its certificate', async (t) => {
  const [kubectl] = loadRealBinaries({ kind: 'kubectl', arch: hostArch });
  const [server] = loadFixtures({ program: 'tlsserver', arch: hostArch, mode: 'exe', stripped: false }).slice(-1);
  if (!requireOrSkip(t, isRoot(), 'capturing with tcpdump needs root')) return;
  if (!requireOrSkip(t, commandExists('tshark') && commandExists('tcpdump'), 'tshark and tcpdump are needed')) return;
  if (!requireOrSkip(t, kubectl !== undefined && server !== undefined, 'no Debian kubectl or Go fixtures (npm run setup)')) return;
  const pki = await testPki();
  const clientCert = await pki.makeClientCert({ cn: 'system:kube-controller-manager', orgs: [], days: 10 });
  const api = await startKubeApiFixture({ server: server!, pki });
  const paths = ['/api/v1/namespaces/kube-system/pods?limit=2', '/api/v1/namespaces/default/pods?watch=1'];
  const logged: string[] = [];
  let pcap: string;
  try {
    const capture = await startCapture({ port: api.port, file: path.join(api.dir, 'kubectl.pcap') });
    pcap = capture.file;
    try {
      for (const p of paths) {
        const run = await runKubectl({ kubectl: kubectl!, server: api.url, pki, clientCert, args: ['get', '--raw', p] });
        assert.equal(run.code, 0, run.stderr.slice(-500));
        logged.push(...run.requests);
      }
      // One more call, so that segments tcpdump may still be missing when it stops are not the ones above.
      logged.push(...(await runKubectl({ kubectl: kubectl!, server: api.url, pki, clientCert, args: ['get', '--raw', '/healthz'] })).requests);
    } finally {
      await capture.stop();
    }
  } finally {
    await api.stop();
  }

  const run = await runAnalyze([pcap, '--keylog', api.serverKeyLog, '--json']);
  assert.equal(run.code, 0, run.stderr);
  const report = JSON.parse(run.stdout) as Report;
  assert.ok(report.connections.every((c) => c.decrypted && c.alpn === 'h2' && c.clientCertificate?.commonName === 'system:kube-controller-manager'));
  assert.ok(report.connections.every((c) => c.reason === undefined || c.reason === 'stream incomplete (lost segments)'));
  // kubectl logs "GET URL 200 OK": every exchange we saw whole must be there with its status. (On a loaded
  // machine tcpdump may miss the last segments; tshark, below, then misses the same ones.)
  const kubectlSaw = new Set(logged.map((l) => l.split(' ').slice(0, 3).join(' ')));
  const complete = report.requests.filter((r) => r.complete);
  assert.ok(complete.length >= 1);
  for (const r of complete) assert.ok(kubectlSaw.has(`${r.method} ${api.url}${r.path} ${r.status}`), `${r.method} ${r.path} ${r.status} in kubectl's log`);
  for (const r of report.requests) assert.ok([...kubectlSaw].some((l) => l.startsWith(`${r.method} ${api.url}${r.path} `)), `${r.path} requested by kubectl`);
  const theirs = await tsharkFields(pcap, { keyLog: api.serverKeyLog, tlsPort: api.port, filter: 'http2.headers.method', fields: ['http2.headers.path', 'http2.headers.user_agent'] });
  assert.deepEqual(report.requests.map((r) => [r.path, r.userAgent]).sort(), theirs.sort());

  assert.ok(report.requests.every((r) => r.userAgent.startsWith('kubectl/')));
  const expectedCalls: Record<string, [string, string, string]> = { [paths[0]!]: ['list', 'pods', 'kube-system'], [paths[1]!]: ['watch', 'pods', 'default'] };
  const apiCalls = report.requests.filter((r) => r.path !== '/healthz');
  assert.deepEqual(apiCalls.map((r) => r.path).sort(), [...paths].sort());
  for (const r of apiCalls) assert.deepEqual([r.kube.verb, r.kube.resource, r.kube.namespace], expectedCalls[r.path]);
  assert.deepEqual(report.identities.map((i) => [i.user, i.groups, i.requests]), [['system:kube-controller-manager', [], report.requests.length]]);
});
