// Every connection reports the bytes that flowed each way, decrypted or not (issue 8, defect 3: connections
// without keys said 0 although thousands of bytes flowed). Referee: tshark's TCP payload lengths.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isRoot, requireOrSkip } from '../support/env.js';
import { loadFixtures } from '../support/fixtures.js';
import { commandExists, runTraffic, tsharkPayloadBytes } from '../support/traffic.js';
import { runAnalyze } from './cli.js';

const hostArch = process.arch === 'arm64' ? 'arm64' : 'amd64';

interface Connection { client: { ip: string; port: number }; server: { ip: string; port: number }; decrypted: boolean; bytesToServer: number; bytesToClient: number; plaintextBytesToServer: number; plaintextBytesToClient: number }

test('bytes each way equal tshark\'s TCP payload, for connections analyze cannot decrypt and those it can', async (t) => {
  const [server] = loadFixtures({ program: 'tlsserver', arch: hostArch, mode: 'exe', stripped: true }).slice(-1);
  const [client] = loadFixtures({ program: 'tlsclient', arch: hostArch, mode: 'exe', stripped: true }).slice(-1);
  if (!requireOrSkip(t, isRoot(), 'capturing with tcpdump needs root')) return;
  if (!requireOrSkip(t, commandExists('tshark') && commandExists('tcpdump'), 'tshark and tcpdump are needed')) return;
  if (!requireOrSkip(t, server !== undefined && client !== undefined, 'no Go fixtures (bash scripts/setup.sh --tests)')) return;
  const traffic = await runTraffic({ server: server!, client: client!, capture: true, requests: 6, conns: 3, paths: ['/healthz', '/api/v1/namespaces/default/pods?limit=100'] });
  const theirs = await tsharkPayloadBytes(traffic.pcap!);
  assert.equal(theirs.size, 6, 'three connections, both ways');

  for (const keys of [[], ['--keylog', traffic.serverKeyLog]]) {
    const run = await runAnalyze([traffic.pcap!, ...keys, '--json']);
    assert.equal(run.code, 0, run.stderr);
    const connections = (JSON.parse(run.stdout) as { connections: Connection[] }).connections;
    assert.equal(connections.length, 3);
    for (const c of connections) {
      assert.equal(c.decrypted, keys.length > 0);
      const client = `${c.client.ip}:${c.client.port}`;
      const server = `${c.server.ip}:${c.server.port}`;
      const expected = { toServer: theirs.get(`${client}>${server}`), toClient: theirs.get(`${server}>${client}`) };
      assert.deepEqual({ toServer: c.bytesToServer, toClient: c.bytesToClient }, expected, `connection from ${client}`);
      assert.ok(c.bytesToClient > 1000, 'thousands of bytes flowed');
      if (c.decrypted) assert.ok(c.plaintextBytesToClient > 0 && c.plaintextBytesToClient < c.bytesToClient);
      else assert.deepEqual([c.plaintextBytesToServer, c.plaintextBytesToClient], [0, 0]);
    }
  }
});
