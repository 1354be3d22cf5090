// One report from captures taken on several "nodes": two network namespaces made by the test, joined by a
// veth pair, each with its own tcpdump. The referees are the test's own choices (certificates, request counts)
// and the clients' own key logs and outputs.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { test } from 'node:test';
import { isRoot, requireOrSkip } from '../support/env.js';
import { loadFixtures } from '../support/fixtures.js';
import { cliArgv } from '../support/paths.js';
import { cleanupOnExit, secretTempDir, testPki, type CertPair } from '../support/pki.js';
import { commandExists, secretFileIn, spawnChecked, startProcess, startServer, type RunningProcess, type RunningServer } from '../support/traffic.js';

interface IdentityJson {
  user: string;
  groups: string[];
  nodes: string[];
  connectionIds: number[];
  requests: number;
  clients: string[];
}
interface ConnectionJson {
  id: number;
  nodes: string[];
  decrypted: boolean;
  clientCertificate?: { subject: string };
}

function analyze(args: string[]): { identities: IdentityJson[]; connections: ConnectionJson[] } {
  const r = spawnSync(process.execPath, [...cliArgv(), 'analyze', '-o', 'json', ...args], { encoding: 'utf8', timeout: 120_000, maxBuffer: 64 << 20 });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as { identities: IdentityJson[]; connections: ConnectionJson[] };
}

test('captures of two nodes give one identity list, each identity with the nodes it was seen on; a connection seen on both counts once', async (t) => {
  if (!requireOrSkip(t, isRoot(), 'network namespaces and tcpdump need root')) return;
  if (!requireOrSkip(t, commandExists('ip') && commandExists('tcpdump'), 'ip and tcpdump are needed')) return;
  const server = loadFixtures({ program: 'tlsserver', arch: 'amd64', mode: 'exe', stripped: true }).at(-1);
  const client = loadFixtures({ program: 'tlsclient', arch: 'amd64', mode: 'exe', stripped: true }).at(-1);
  if (!requireOrSkip(t, server !== undefined && client !== undefined, 'no fixtures (run npm run setup)')) return;
  const pki = await testPki();
  const people: Record<'alice' | 'bob' | 'carol', CertPair> = {
    alice: await pki.makeClientCert({ cn: 'alice', orgs: ['team-a'], days: 10 }),
    bob: await pki.makeClientCert({ cn: 'bob', orgs: ['team-b'], days: 20 }),
    carol: await pki.makeClientCert({ cn: 'carol', orgs: ['team-c'], days: 30 }),
  };
  const dir = secretTempDir('nodes');
  const tag = `${process.pid % 100000}`;
  const nodes = { node1: `gkl-n1-${tag}`, node2: `gkl-n2-${tag}` };
  const addr = { node1: '10.251.0.1', node2: '10.251.0.2' };
  let made = false;
  const teardown = (): void => {
    for (const ns of Object.values(nodes)) spawnSync('ip', ['netns', 'delete', ns]);
  };
  cleanupOnExit(() => made && teardown());
  const running: RunningProcess[] = [];
  try {
    for (const ns of Object.values(nodes)) await spawnChecked('ip', ['netns', 'add', ns]);
    made = true;
    await spawnChecked('ip', ['link', 'add', `gkl1-${tag}`, 'netns', nodes.node1, 'type', 'veth', 'peer', 'name', `gkl2-${tag}`, 'netns', nodes.node2]);
    for (const [name, ns, ip] of [[`gkl1-${tag}`, nodes.node1, addr.node1], [`gkl2-${tag}`, nodes.node2, addr.node2]] as const) {
      await spawnChecked('ip', ['-n', ns, 'addr', 'add', `${ip}/24`, 'dev', name]);
      await spawnChecked('ip', ['-n', ns, 'link', 'set', name, 'up']);
      await spawnChecked('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
    }
    const serve = (ns: string): Promise<RunningServer> =>
      startServer('ip', ['netns', 'exec', ns, server!.path, '-addr', '0.0.0.0:0', '-cert', pki.serverCert, '-key', pki.serverKey, '-client-ca', pki.caCert]);
    const s1 = await serve(nodes.node1);
    const s2 = await serve(nodes.node2);
    running.push(s1, s2);
    const captures = { node1: path.join(dir, 'node1.pcap'), node2: path.join(dir, 'node2.pcap') };
    for (const node of ['node1', 'node2'] as const) {
      const args = ['netns', 'exec', nodes[node], 'tcpdump', '-i', 'any', '-U', '--immediate-mode', '-B', '16384', '-n', '-Z', 'root', '-w', captures[node], `tcp port ${s1.port} or tcp port ${s2.port}`];
      running.push((await startProcess('ip', args, { ready: /listening on/, readyOn: 'stderr' })).process);
    }
    const keyLogs: string[] = [];
    const request = async (ns: string, url: string, who: keyof typeof people, n: number): Promise<number> => {
      const keyLog = secretFileIn(dir, `${who}.keylog`);
      keyLogs.push(keyLog);
      const out = await spawnChecked('ip', ['netns', 'exec', ns, client!.path, '-url', url, '-cert', people[who].cert, '-key', people[who].key, '-keylog', keyLog, '-n', String(n), '-path', `/api/v1/namespaces/${who}/pods`]);
      return out.stdout.split('\n').filter(Boolean).length;
    };
    // alice and bob stay on their node's loopback; carol, on node2, calls node1's server across the veth.
    const answered = {
      alice: await request(nodes.node1, `https://127.0.0.1:${s1.port}/`, 'alice', 2),
      bob: await request(nodes.node2, `https://127.0.0.1:${s2.port}/`, 'bob', 3),
      carol: await request(nodes.node2, `https://${addr.node1}:${s1.port}/`, 'carol', 4),
    };
    assert.deepEqual(answered, { alice: 2, bob: 3, carol: 4 }, 'every request answered (the clients\' own count)');
    // Not a measurement: lets tcpdump write the last segments before it is stopped.
    await new Promise((resolve) => setTimeout(resolve, 300));
    for (const p of running.splice(2)) await p.stop('SIGINT');

    const keys = keyLogs.flatMap((k) => ['--keylog', k]);
    const report = analyze([captures.node1, captures.node2, ...keys]);
    const byUser = new Map(report.identities.map((i) => [i.user, i]));
    assert.deepEqual([...byUser.keys()].sort(), ['alice', 'bob', 'carol']);
    assert.deepEqual(byUser.get('alice')!.nodes, ['node1']);
    assert.deepEqual(byUser.get('bob')!.nodes, ['node2']);
    assert.deepEqual([...byUser.get('carol')!.nodes].sort(), ['node1', 'node2']);
    for (const who of ['alice', 'bob', 'carol'] as const) {
      assert.equal(byUser.get(who)!.connectionIds.length, 1, `${who}: one connection, however many nodes saw it`);
      assert.equal(byUser.get(who)!.requests, answered[who], `${who}: each request once`);
      assert.deepEqual(byUser.get(who)!.groups, [`team-${who[0]}`]);
    }
    assert.deepEqual(byUser.get('carol')!.clients, [addr.node2]);
    assert.equal(report.connections.length, 3);
    assert.ok(report.connections.every((c) => c.decrypted));

    // The same captures named by --label, in order; and one node alone knows only what it saw.
    const labelled = analyze([captures.node1, captures.node2, '--label', 'cp-a', '--label', 'cp-b', ...keys]);
    assert.deepEqual(labelled.identities.find((i) => i.user === 'alice')!.nodes, ['cp-a']);
    const alone = analyze([captures.node2, ...keys]);
    assert.deepEqual(alone.identities.map((i) => i.user).sort(), ['bob', 'carol']);
  } finally {
    for (const p of running.reverse()) await p.stop('SIGKILL');
    if (made) teardown();
  }
});
