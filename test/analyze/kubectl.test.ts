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
  requests: Array<{ method: string; path: string; status: number; userAgent: string; kube: { verb: string; resource?: string; namespace?: string } }>;
  identities: Array<{ user: string; groups: string[]; userAgents: string[]; calls: Record<string, number> }>;
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
  const ours = report.requests.map((r) => `${r.method} ${api.url}${r.path} ${r.status}`);
  // kubectl logs "GET URL 200 OK": compare method, URL and the status code.
  assert.deepEqual(ours.sort(), logged.map((l) => l.split(' ').slice(0, 3).join(' ')).sort());
  const theirs = await tsharkFields(pcap, { keyLog: api.serverKeyLog, tlsPort: api.port, filter: 'http2.headers.method', fields: ['http2.headers.path', 'http2.headers.user_agent'] });
  assert.deepEqual(report.requests.map((r) => [r.path, r.userAgent]).sort(), theirs.sort());

  assert.ok(report.requests.every((r) => r.userAgent.startsWith('kubectl/')));
  assert.deepEqual(report.requests.map((r) => [r.kube.verb, r.kube.resource, r.kube.namespace]).sort(), [['list', 'pods', 'kube-system'], ['watch', 'pods', 'default']]);
  assert.deepEqual(report.identities.map((i) => [i.user, i.groups, i.calls]), [['system:kube-controller-manager', [], { 'list pods': 1, 'watch pods': 1 }]]);
});
