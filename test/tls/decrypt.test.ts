import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { EventEmitter, once } from 'node:events';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { isRoot, requireOrSkip } from '../support/env.js';
import { loadFixtures } from '../support/fixtures.js';
import { secretTempDir, testPki } from '../support/pki.js';
import { runCurl, runTraffic, spawnChecked, startCapture, startServer, type TrafficOptions } from '../support/traffic.js';
import { completeCapture, decryptFrames, loadKeyLog, newestFixturePair, readFrames, tsharkDecrypted, type DecodedConnection } from './pipeline.js';

const H2_PREFACE = 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n';
const PODS = '/api/v1/namespaces/default/pods?limit=40';

/** Captures real traffic, decrypts it with our engine and checks every connection against tshark. */
async function decryptReal(t: TestContext, options: Omit<TrafficOptions, 'server' | 'client'> & { curl?: boolean }) {
  const pair = newestFixturePair();
  if (!requireOrSkip(t, isRoot(), 'capturing on lo needs root')) return null;
  if (!requireOrSkip(t, pair !== null, 'Go fixtures not built (npm run setup)')) return null;
  const traffic = await completeCapture(() =>
    runTraffic({
      server: pair!.server,
      client: options.curl ? 'curl' : pair!.client,
      capture: true,
      requests: 4,
      conns: 2,
      paths: [PODS, '/healthz'],
      ...options,
    }),
  );
  // The server's own key log: independent of the client, and holds every connection's secrets.
  const keyLogFile = traffic.serverKeyLog;
  const connections = decryptFrames(await readFrames(traffic.pcap!), loadKeyLog(keyLogFile));
  assert.equal(connections.length, options.curl ? Math.min(options.conns ?? 2, options.requests ?? 4) : options.conns ?? 2);
  for (const c of connections) {
    assert.equal(c.result.reason, null, `connection ${c.info.id}: ${c.result.reason}`);
    assert.equal(c.result.decrypted, true);
    assert.equal(c.info.server.port, traffic.port);
    const referee = await tsharkDecrypted(traffic.pcap!, keyLogFile, c.info.id - 1, traffic.port);
    assert.ok(referee.toServer.length > 0, 'tshark decrypted the client side');
    assert.ok(c.toServer.equals(referee.toServer), `connection ${c.info.id}: client→server bytes differ from tshark's`);
    assert.ok(c.toClient.equals(referee.toClient), `connection ${c.info.id}: server→client bytes differ from tshark's`);
  }
  return { traffic, connections };
}

function assertHttp2(connections: DecodedConnection[]): void {
  for (const c of connections) {
    assert.equal(c.toServer.subarray(0, H2_PREFACE.length).toString('latin1'), H2_PREFACE);
    assert.equal(c.result.handshake.alpn, 'h2');
    assert.deepEqual(c.result.handshake.alpnOffered.includes('h2'), true);
  }
  // The PodList body crosses several records: it must come out whole somewhere.
  assert.ok(connections.some((c) => c.toClient.includes('"kind":"PodList"')));
}

function openssl(args: string[]): string {
  return execFileSync('openssl', args, { encoding: 'utf8' }).trim();
}

test('TLS 1.3 Go client and server with a client certificate: handshake, both certificates, application data', async (t) => {
  const run = await decryptReal(t, { tls: '1.3', clientCert: true });
  if (!run) return;
  assertHttp2(run.connections);
  const pki = await testPki();
  // openssl is the referee for the certificate fields.
  const serial = openssl(['x509', '-in', pki.clientCert, '-noout', '-serial']).replace('serial=', '');
  const fingerprint = openssl(['x509', '-in', pki.clientCert, '-noout', '-fingerprint', '-sha256']).split('=')[1];
  const notAfter = new Date(openssl(['x509', '-in', pki.clientCert, '-noout', '-enddate']).replace('notAfter=', '')).toISOString();
  for (const c of run.connections) {
    const hs = c.result.handshake;
    assert.equal(hs.version, 'TLS 1.3');
    assert.equal(hs.sni, null, 'Go sends no SNI for an IP address');
    assert.match(hs.clientRandom ?? '', /^[0-9a-f]{64}$/);
    const client = hs.clientCertificate;
    assert.ok(client, 'the encrypted client certificate was read');
    assert.equal(client.commonName, 'system:node:test-node');
    assert.deepEqual(client.organizations, ['system:nodes']);
    assert.equal(client.serialNumber, serial);
    assert.equal(client.sha256, fingerprint);
    assert.equal(client.notAfter, notAfter);
    assert.ok(hs.serverCertificates.length >= 1);
    assert.ok(hs.serverCertificates[0]!.subjectAltNames.includes('IP Address:127.0.0.1'));
  }
});

test('TLS 1.3 client certificate with several organizations', async (t) => {
  if (!requireOrSkip(t, isRoot(), 'capturing on lo needs root')) return;
  const pki = await testPki();
  const cert = await pki.makeClientCert({ cn: 'alice', orgs: ['system:masters', 'dev-team'], days: 30 });
  const run = await decryptReal(t, { tls: '1.3', clientCert: cert, requests: 1, conns: 1 });
  if (!run) return;
  const client = run.connections[0]!.result.handshake.clientCertificate!;
  assert.equal(client.commonName, 'alice');
  assert.deepEqual(client.organizations, ['system:masters', 'dev-team']);
});

for (const [suite, cipher] of [
  ['TLS_AES_256_GCM_SHA384', 'aes256gcm'],
  ['TLS_CHACHA20_POLY1305_SHA256', 'chacha20'],
] as const) {
  test(`TLS 1.3 ${suite} (curl client)`, async (t) => {
    const run = await decryptReal(t, { tls: '1.3', curl: true, cipher });
    if (!run) return;
    assertHttp2(run.connections);
    for (const c of run.connections) assert.equal(c.result.handshake.cipherSuite, suite);
  });
}

for (const [cipher, suite] of [
  ['aes128gcm', 'TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256'],
  ['aes256gcm', 'TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384'],
  ['chacha20', 'TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256'],
] as const) {
  test(`TLS 1.2 ${suite} (Go client, client certificate in the clear)`, async (t) => {
    const run = await decryptReal(t, { tls: '1.2', cipher, clientCert: true });
    if (!run) return;
    assertHttp2(run.connections);
    for (const c of run.connections) {
      assert.equal(c.result.handshake.version, 'TLS 1.2');
      assert.equal(c.result.handshake.cipherSuite, suite);
      assert.equal(c.result.handshake.clientCertificate?.commonName, 'system:node:test-node');
    }
  });
}

test('TLS 1.2 ECDHE-RSA with an RSA server key (curl client, AES-256-GCM)', async (t) => {
  if (!requireOrSkip(t, isRoot(), 'capturing on lo needs root')) return;
  const pki = await testPki({ keyType: 'rsa' });
  const run = await decryptReal(t, { tls: '1.2', curl: true, cipher: 'aes256gcm', pki, clientCert: true });
  if (!run) return;
  assertHttp2(run.connections);
  for (const c of run.connections) {
    assert.equal(c.result.handshake.cipherSuite, 'TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384');
    assert.equal(c.result.handshake.clientCertificate?.commonName, 'system:node:test-node');
  }
});

test('HTTP/1.1 over TLS 1.3', async (t) => {
  const run = await decryptReal(t, { tls: '1.3', h1: true });
  if (!run) return;
  for (const c of run.connections) {
    assert.notEqual(c.result.handshake.alpn, 'h2');
    assert.match(c.toServer.toString('latin1'), /^GET \/(api|healthz)/);
    assert.match(c.toClient.toString('latin1'), /^HTTP\/1\.1 200 OK\r\n/);
  }
});

for (const [opensslName, suite] of [
  ['ECDHE-ECDSA-AES128-SHA', 'TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA'],
  ['ECDHE-ECDSA-AES256-SHA', 'TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA'],
] as const) {
  test(`TLS 1.2 ${suite}: MAC-then-encrypt CBC (curl client)`, async (t) => {
    const pair = newestFixturePair();
    if (!requireOrSkip(t, isRoot(), 'capturing on lo needs root')) return;
    if (!requireOrSkip(t, pair !== null, 'Go fixtures not built (npm run setup)')) return;
    const pki = await testPki();
    const dir = secretTempDir('cbc');
    const serverKeyLog = path.join(dir, 'server.keylog');
    writeFileSync(serverKeyLog, '', { mode: 0o600 });
    const server = await startServer(pair!.server.path, ['-addr', '127.0.0.1:0', '-cert', pki.serverCert, '-key', pki.serverKey, '-keylog', serverKeyLog]);
    let pcap: string;
    let curlOutput = '';
    try {
      ({ pcap } = await completeCapture(async () => {
        const capture = await startCapture({ port: server.port, file: path.join(dir, `cbc-${Date.now()}.pcap`) });
        try {
          const urls = [PODS, '/healthz'].map((p) => `https://127.0.0.1:${server.port}${p}`);
          // HTTP/1.1: HTTP/2 forbids CBC suites (RFC 7540 §9.2.2) and Go's server enforces it.
          curlOutput = await runCurl({ urls, pki, keyLog: path.join(dir, 'curl.keylog'), tls: '1.2', ciphers: opensslName, h1: true });
        } finally {
          await capture.stop();
        }
        return { pcap: capture.file };
      }));
    } finally {
      await server.stop();
    }
    const [c, ...more] = decryptFrames(await readFrames(pcap), loadKeyLog(serverKeyLog));
    assert.equal(more.length, 0);
    assert.equal(c!.result.reason, null);
    assert.equal(c!.result.handshake.cipherSuite, suite);
    assert.match(c!.toServer.toString('latin1'), /^GET \/api\/v1\/namespaces\/default\/pods/);
    assert.ok(c!.toClient.includes('"kind":"PodList"'), `curl: ${curlOutput}; decrypted: ${c!.toClient.subarray(0, 300).toString('latin1')}`);
    const referee = await tsharkDecrypted(pcap, serverKeyLog, 0, server.port);
    assert.ok(c!.toServer.equals(referee.toServer) && c!.toClient.equals(referee.toClient), 'bytes differ from tshark');
  });
}

/**
 * An openssl s_client session against the Go server (HTTP/1.1), captured: each step's line is sent once the
 * previous step's answer arrived (s_client reads its command letters, like "K", only line by line).
 */
async function sClientSession(t: TestContext, runs: { args: string[]; steps: { send: string; until: RegExp }[] }[]) {
  const pair = newestFixturePair();
  if (!requireOrSkip(t, isRoot(), 'capturing on lo needs root')) return null;
  if (!requireOrSkip(t, pair !== null, 'Go fixtures not built (npm run setup)')) return null;
  const pki = await testPki();
  const dir = secretTempDir('s_client');
  const serverKeyLog = path.join(dir, 'server.keylog');
  writeFileSync(serverKeyLog, '', { mode: 0o600 });
  const server = await startServer(pair!.server.path, ['-addr', '127.0.0.1:0', '-cert', pki.serverCert, '-key', pki.serverKey, '-keylog', serverKeyLog, '-h1']);
  try {
    const pcap = await completeCapture(async () => {
      const capture = await startCapture({ port: server.port, file: path.join(dir, `s_client-${Date.now()}.pcap`) });
      try {
        for (const run of runs) {
          const client = spawn('openssl', ['s_client', '-connect', `127.0.0.1:${server.port}`, '-CAfile', pki.caCert, ...run.args], {
            stdio: ['pipe', 'pipe', 'pipe'],
          });
          try {
            let output = '';
            const arrived = new EventEmitter();
            for (const stream of [client.stdout, client.stderr]) {
              stream.setEncoding('utf8').on('data', (chunk: string) => {
                output += chunk;
                arrived.emit('data');
              });
            }
            const waitFor = async (pattern: RegExp): Promise<void> => {
              while (!pattern.test(output)) await once(arrived, 'data');
            };
            await waitFor(/Verify return code: 0/);
            for (const step of run.steps) {
              client.stdin.write(step.send);
              await waitFor(step.until);
            }
          } finally {
            client.kill();
            if (client.exitCode === null) await once(client, 'exit');
          }
        }
      } finally {
        await capture.stop();
      }
      return { pcap: capture.file };
    });
    return { pcap: pcap.pcap, serverKeyLog, port: server.port };
  } finally {
    await server.stop();
  }
}

test('TLS 1.3 KeyUpdate in both directions (openssl s_client "K" asks the Go server to update too)', async (t) => {
  const run = await sClientSession(t, [
    {
      args: ['-tls1_3'],
      steps: [
        { send: 'GET /healthz HTTP/1.1\nHost: x\n\n', until: /\r\n\r\nok/ },
        { send: 'K\n', until: /KEYUPDATE/ },
        { send: 'GET /api/v1/namespaces/default/pods?limit=2 HTTP/1.1\nHost: x\nConnection: close\n\n', until: /"kind":"PodList"/ },
      ],
    },
  ]);
  if (!run) return;
  const [c] = decryptFrames(await readFrames(run.pcap), loadKeyLog(run.serverKeyLog));
  assert.equal(c!.result.reason, null);
  // The request and the answer after the update prove both directions followed their new secrets.
  assert.match(c!.toServer.toString('latin1'), /GET \/api\/v1\/namespaces\/default\/pods\?limit=2/);
  assert.match(c!.toClient.toString('latin1'), /"kind":"PodList"/);
  const referee = await tsharkDecrypted(run.pcap, run.serverKeyLog, 0, run.port);
  assert.ok(c!.toServer.equals(referee.toServer) && c!.toClient.equals(referee.toClient), 'bytes differ from tshark');
});

test('TLS 1.3 HelloRetryRequest: a key share only for ffdhe2048 (which Go lacks) makes the Go server ask for X25519', async (t) => {
  const run = await sClientSession(t, [
    { args: ['-tls1_3', '-groups', 'ffdhe2048:X25519'], steps: [{ send: 'GET /healthz HTTP/1.1\nHost: x\nConnection: close\n\n', until: /\r\n\r\nok/ }] },
  ]);
  if (!run) return;
  const [c] = decryptFrames(await readFrames(run.pcap), loadKeyLog(run.serverKeyLog));
  assert.equal(c!.result.reason, null);
  assert.equal(c!.result.handshake.helloRetryRequest, true);
  assert.match(c!.toServer.toString('latin1'), /^GET \/healthz HTTP\/1\.1/);
  assert.match(c!.toClient.toString('latin1'), /^HTTP\/1\.1 200 OK/);
  const hrr = await spawnChecked('tshark', ['-n', '-r', run.pcap, '-Y', 'tls.handshake.type == 2', '-T', 'fields', '-e', 'tls.handshake.random']);
  assert.ok(hrr.stdout.includes('cf21ad74e59a6111be1d8c021e65b891c2a211167abb8c5e079e09e2c8a8339c'), 'tshark sees the HelloRetryRequest');
});

test('every Go toolchain from 1.15: its own client and server over TLS 1.3 and 1.2 decrypt completely', async (t) => {
  if (!requireOrSkip(t, isRoot(), 'capturing on lo needs root')) return;
  const servers = loadFixtures({ program: 'tlsserver', arch: 'amd64', mode: 'exe', stripped: false });
  if (!requireOrSkip(t, servers.length > 0, 'Go fixtures not built (npm run setup)')) return;
  for (const server of servers) {
    const client = loadFixtures({ program: 'tlsclient', arch: 'amd64', mode: 'exe', stripped: false, toolchain: server.toolchain })[0];
    if (!client) continue;
    for (const tls of ['1.3', '1.2'] as const) {
      const traffic = await completeCapture(() =>
        runTraffic({ server, client, tls, clientCert: true, capture: true, requests: 2, conns: 1, paths: [PODS] }),
      );
      const [c, ...more] = decryptFrames(await readFrames(traffic.pcap!), loadKeyLog(traffic.serverKeyLog));
      const label = `${server.goVersion} TLS ${tls}`;
      assert.equal(more.length, 0, label);
      assert.equal(c!.result.reason, null, label);
      assert.equal(c!.result.handshake.version, `TLS ${tls}`, label);
      assert.equal(c!.toServer.subarray(0, H2_PREFACE.length).toString('latin1'), H2_PREFACE, label);
      assert.equal(c!.result.handshake.clientCertificate?.commonName, 'system:node:test-node', label);
      t.diagnostic(`${label}: ${c!.result.handshake.cipherSuite}, ${c!.toClient.length} bytes to the client`);
    }
  }
});

test('TLS 1.2 resumption: the abbreviated handshake (no key logged by Go) decrypts with the earlier session\'s secret', async (t) => {
  const session = path.join(secretTempDir('session'), 'tls12.session');
  const request = { send: 'GET /healthz HTTP/1.1\nHost: x\nConnection: close\n\n', until: /\r\n\r\nok/ };
  const run = await sClientSession(t, [
    { args: ['-tls1_2', '-sess_out', session], steps: [request] },
    { args: ['-tls1_2', '-sess_in', session], steps: [request] },
  ]);
  if (!run) return;
  const keys = loadKeyLog(run.serverKeyLog);
  const connections = decryptFrames(await readFrames(run.pcap), keys);
  assert.equal(connections.length, 2);
  const [full, resumed] = connections;
  assert.ok(keys.get(Buffer.from(full!.result.handshake.clientRandom!, 'hex'), 'CLIENT_RANDOM'));
  assert.equal(keys.get(Buffer.from(resumed!.result.handshake.clientRandom!, 'hex'), 'CLIENT_RANDOM'), undefined, 'Go logs nothing for a resumed session');
  for (const c of connections) {
    assert.equal(c.result.reason, null);
    assert.match(c.toClient.toString('latin1'), /^HTTP\/1\.1 200 OK/);
  }
  assert.equal(resumed!.result.handshake.serverCertificates.length, 0, 'an abbreviated handshake sends no certificate');
});

test('TLS 1.3 resumption with a PSK: no certificates, both connections decrypt from their logged secrets', async (t) => {
  const session = path.join(secretTempDir('session'), 'tls13.session');
  const request = { send: 'GET /healthz HTTP/1.1\nHost: x\nConnection: close\n\n', until: /\r\n\r\nok/ };
  const run = await sClientSession(t, [
    { args: ['-tls1_3', '-sess_out', session], steps: [request] },
    { args: ['-tls1_3', '-sess_in', session], steps: [request] },
  ]);
  if (!run) return;
  const [full, resumed, ...more] = decryptFrames(await readFrames(run.pcap), loadKeyLog(run.serverKeyLog));
  assert.equal(more.length, 0);
  for (const c of [full!, resumed!]) {
    assert.equal(c.result.reason, null);
    assert.match(c.toClient.toString('latin1'), /^HTTP\/1\.1 200 OK/);
  }
  assert.ok(full!.result.handshake.serverCertificates.length > 0);
  assert.equal(resumed!.result.handshake.serverCertificates.length, 0, 'a PSK handshake sends no certificate');
});
