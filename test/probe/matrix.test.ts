import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadFixtures, toolchainRecords, type FixtureMode, type GoFixture } from '../support/fixtures.js';
import { requireOrSkip } from '../support/env.js';
import { runTraffic, type CipherName, type TlsVersion } from '../support/traffic.js';
import { captureDuring, missingFrom, privateCopy, readKeyLogSet, requireProbing, tsharkHttp2Paths } from './harness.js';

const PODS = '/api/v1/namespaces/default/pods?limit=2';

function fixturePair(toolchain: string, mode: FixtureMode = 'exe'): { server?: GoFixture; client?: GoFixture } {
  const find = (program: 'tlsserver' | 'tlsclient', m: FixtureMode): GoFixture | undefined =>
    loadFixtures({ program, toolchain, arch: 'amd64', mode: m, stripped: true })[0];
  const server = find('tlsserver', mode);
  return { server: server && privateCopy(server), client: find('tlsclient', 'exe') };
}

const variants: { name: string; tls?: TlsVersion; cipher?: CipherName; labels: string[] }[] = [
  { name: 'TLS 1.3', labels: ['CLIENT_HANDSHAKE_TRAFFIC_SECRET', 'SERVER_HANDSHAKE_TRAFFIC_SECRET', 'CLIENT_TRAFFIC_SECRET_0', 'SERVER_TRAFFIC_SECRET_0'] },
  { name: 'TLS 1.2 AES-GCM', tls: '1.2', cipher: 'aes128gcm', labels: ['CLIENT_RANDOM'] },
  { name: 'TLS 1.2 ChaCha20-Poly1305', cipher: 'chacha20', labels: ['CLIENT_RANDOM'] },
];

// Every toolchain of the matrix (1.15 has the stack ABI, 1.17+ the register ABI): the stripped server is
// probed through its executable, hooked before it starts; the stripped client's own KeyLogWriter is the truth.
for (const { version } of toolchainRecords().filter((r) => r.status !== 'missing')) {
  for (const v of variants) {
    test(`go${version} stripped tlsserver, ${v.name}: probed keys equal the client's key log and decrypt the capture`, async (t) => {
      if (!requireProbing(t)) return;
      const { server, client } = fixturePair(version);
      if (!requireOrSkip(t, server !== undefined && client !== undefined, `no stripped amd64 tlsserver/tlsclient fixtures for go${version} (run npm run setup)`)) return;
      const { result: traffic, lines, stats, rejects } = await captureDuring({ exes: [server!.path] }, {}, () =>
        runTraffic({ server: server!, client: client!, tls: v.tls, cipher: v.cipher, requests: 4, conns: 2, paths: [PODS], capture: true }),
      );
      const truth = readKeyLogSet(traffic.clientKeyLog);
      assert.equal(truth.size, 2 * v.labels.length, 'the client logged the expected keys');
      assert.deepEqual(missingFrom(truth, lines), [], 'every client key was extracted from the server');
      assert.deepEqual(missingFrom(lines, truth), [], 'no extracted key is foreign to the client');
      assert.deepEqual(new Set([...lines].map((l) => l.split(' ')[0])), new Set(v.labels));
      assert.deepEqual(rejects, []);
      assert.equal(stats.lost, 0);
      const paths = await tsharkHttp2Paths(traffic.pcap!, lines, traffic.dir);
      assert.ok(paths.includes(PODS), `tshark decrypted the HTTP/2 request path with our keys (saw ${JSON.stringify(paths)})`);
    });
  }
}

// Other build modes move writeKeyLog and the PT_LOAD layout (PIE, external linking with cgo, the race runtime).
const races = new Set(loadFixtures({ program: 'tlsserver', arch: 'amd64', mode: 'race', stripped: true }).map((f) => f.toolchain));
for (const { version } of toolchainRecords().filter((r) => r.status !== 'missing')) {
  const modes: FixtureMode[] = ['pie', 'cgo', ...(races.has(version) ? (['race'] as const) : [])];
  for (const mode of modes) {
    test(`go${version} stripped ${mode} tlsserver: probed keys equal the client's key log`, async (t) => {
      if (!requireProbing(t)) return;
      const { server, client } = fixturePair(version, mode);
      if (!requireOrSkip(t, server !== undefined && client !== undefined, `no stripped amd64 ${mode} tlsserver for go${version} (run npm run setup)`)) return;
      const { result: traffic, lines } = await captureDuring({ exes: [server!.path] }, {}, () =>
        runTraffic({ server: server!, client: client!, requests: 2, conns: 2 }),
      );
      const truth = readKeyLogSet(traffic.clientKeyLog);
      assert.equal(truth.size, 8);
      assert.deepEqual(lines, truth);
    });
  }
}
