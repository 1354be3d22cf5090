// IP fragments, referee tshark: real TLS traffic of the Go fixtures, every datagram cut into 64-byte IP
// fragments by tcprewrite's fragroute engine (a third party), must give the same requests as the capture
// before it was cut, as tshark (which reassembles IP) also finds.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { loadFixtures } from '../support/fixtures.js';
import { isRoot, requireOrSkip } from '../support/env.js';
import { commandExists, runTraffic, spawnChecked, tsharkFields } from '../support/traffic.js';
import { runAnalyze } from './cli.js';

interface JsonReport {
  connections: Array<{ decrypted: boolean; reason?: string }>;
  requests: Array<{ connectionId: number; streamId: number; path: string; status: number | null }>;
}

async function requestsOf(pcap: string, keyLog: string): Promise<string[][]> {
  const run = await runAnalyze([pcap, '--keylog', keyLog, '--json']);
  assert.equal(run.code, 0, run.stderr);
  const report = JSON.parse(run.stdout) as JsonReport;
  assert.ok(report.connections.every((c) => c.decrypted && c.reason === undefined), JSON.stringify(report.connections));
  return report.requests.map((r) => [String(r.connectionId - 1), String(r.streamId), r.path, String(r.status)]);
}

test('analyze reassembles IP fragments: a capture cut into 64-byte fragments reads like the whole one', async (t) => {
  const [server] = loadFixtures({ program: 'tlsserver', arch: 'amd64', mode: 'exe', stripped: false }).slice(-1);
  const [client] = loadFixtures({ program: 'tlsclient', arch: 'amd64', mode: 'exe', stripped: false }).slice(-1);
  if (!requireOrSkip(t, isRoot(), 'capturing with tcpdump needs root')) return;
  const tools = ['tshark', 'tcpdump', 'tcprewrite'];
  if (!requireOrSkip(t, tools.every(commandExists), `${tools.join(', ')} are needed (tcprewrite: apt install tcpreplay)`)) return;
  if (!requireOrSkip(t, server !== undefined && client !== undefined, 'Go fixtures not built (npm run setup)')) return;
  const paths = ['/healthz', '/api/v1/namespaces/default/pods', '/apis/apps/v1/deployments'];
  const traffic = await runTraffic({ server: server!, client: client!, capture: true, requests: 6, conns: 2, paths });
  const rules = path.join(traffic.dir, 'fragroute.conf');
  writeFileSync(rules, 'ip_frag 64\n');
  const cut = path.join(traffic.dir, 'fragmented.pcap');
  await spawnChecked('tcprewrite', [`--fragroute=${rules}`, '-i', traffic.pcap!, '-o', cut]);

  const fragments = await tsharkFields(cut, { filter: 'ip.flags.mf == 1', fields: ['frame.number'] });
  assert.ok(fragments.length > 10, 'the capture really is fragmented (else this test proves nothing)');
  const whole = await requestsOf(traffic.pcap!, traffic.serverKeyLog);
  assert.ok(whole.length >= 1);
  assert.deepEqual(await requestsOf(cut, traffic.serverKeyLog), whole);

  const theirs = await tsharkFields(cut, { keyLog: traffic.serverKeyLog, tlsPort: traffic.port, filter: 'http2.headers.path', fields: ['http2.headers.path'] });
  assert.deepEqual(theirs.flatMap((row) => row[0]!.split(',')).sort(), whole.map((r) => r[2]!).sort());
});
