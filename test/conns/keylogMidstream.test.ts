// keylog --midstream: the connections opened before keylog get their mid-stream lines in the same key log as
// the NSS lines of the handshakes made while it runs.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { startCli } from '../support/cli.js';
import { requireOrSkip } from '../support/env.js';
import { loadFixtures } from '../support/fixtures.js';
import { secretTempDir, testPki } from '../support/pki.js';
import { secretFileIn, spawnChecked } from '../support/traffic.js';
import { leftovers, privateCopy, readKeyLogSet, requireProbing } from '../probe/harness.js';
import { clientFixture, midstreamLines, startApiServer, startLongLivedClient, trafficSecrets } from './harness.js';

test('keylog --midstream: mid-stream lines for the connection opened before, NSS lines for the handshake made during, in one key log', async (t) => {
  if (!requireProbing(t)) return;
  const pki = await testPki();
  const fixture = loadFixtures({ program: 'tlsserver', arch: 'amd64', mode: 'exe', stripped: true }).at(-1);
  const client = clientFixture(t);
  if (!client || !requireOrSkip(t, fixture !== undefined, 'no tlsserver fixture')) return;
  const server = await startApiServer(privateCopy(fixture!), pki);
  const before = await startLongLivedClient(client, pki, server.port, { cn: 'connected-before', orgs: [], days: 30 });
  const dir = secretTempDir('keylog-midstream');
  const keys = path.join(dir, 'all.keys');
  try {
    const run = await startCli(['keylog', '--pid', String(server.child.pid), '--midstream', '-o', keys], /swept the connections opened before/);
    assert.match(run.stderr(), /1 TLS connection, 2 mid-stream lines written/);
    const newKeyLog = secretFileIn(dir, 'new.keylog');
    const pair = await pki.makeClientCert({ cn: 'connected-during', orgs: [], days: 30 });
    await spawnChecked(client.path, ['-url', `https://127.0.0.1:${server.port}/healthz`, '-ca', pki.caCert, '-cert', pair.cert, '-key', pair.key, '-keylog', newKeyLog]);
    const truth = readKeyLogSet(newKeyLog);
    for (let i = 0; i < 100 && ![...truth].every((l) => readFileSync(keys, 'utf8').includes(l)); i++) await sleep(50);
    assert.equal(await run.stop('SIGINT'), 0, run.stderr());
    assert.deepEqual(leftovers(run.child.pid!), [], 'no probe left, of either kind');
    const written = readKeyLogSet(keys);
    assert.deepEqual([...truth].filter((l) => !written.has(l)), [], 'the new handshake\'s NSS lines, unchanged');
    const secrets = trafficSecrets(before.keyLog);
    const lines = midstreamLines(keys);
    assert.deepEqual(lines.map((l) => l.dir).sort(), ['client', 'server']);
    for (const l of lines) assert.deepEqual([l.secret], l.dir === 'client' ? secrets.client : secrets.server, `${l.dir} secret equals the client's own key log`);
  } finally {
    await before.process.stop();
    await server.stop();
  }
});
