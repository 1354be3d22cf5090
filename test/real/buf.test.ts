// npm's buf binaries are real, stripped Go TLS clients built by Go 1.19 … newest: each one completes an
// HTTP/2 exchange with the fixture that tshark decrypts with the fixture's key log.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { isRoot, requireOrSkip } from '../support/env.js';
import { loadFixtures, loadRealBinaries } from '../support/fixtures.js';
import { testPki } from '../support/pki.js';
import { BUF_PING_PATH, runBufCurl, startKubeApiFixture } from '../support/real.js';
import { commandExists, secretFileIn, startCapture, tsharkFields } from '../support/traffic.js';

const hostArch = process.arch === 'arm64' ? 'arm64' : 'amd64';

describe('buf curl (npm @bufbuild/buf-linux-*) against the tlsserver fixture', () => {
  const bufs = loadRealBinaries({ kind: 'buf', arch: hostArch });
  const server = loadFixtures({ program: 'tlsserver', arch: hostArch, mode: 'exe', stripped: true }).at(-1);

  it('every buf version sends its gRPC call over TLS 1.3 with the client certificate; tshark decrypts it', async (t) => {
    if (!requireOrSkip(t, bufs.length > 0, 'no buf binaries (run scripts/setup-real.sh)')) return;
    if (!requireOrSkip(t, server !== undefined, 'no tlsserver fixture (run scripts/setup.sh)')) return;
    if (!requireOrSkip(t, isRoot() && commandExists('tcpdump') && commandExists('tshark'), 'root, tcpdump and tshark are needed')) return;
    const pki = await testPki();
    const api = await startKubeApiFixture({ server: server!, pki });
    const capture = await startCapture({ port: api.port, file: secretFileIn(api.dir, 'buf.pcap') });
    try {
      const agents: string[] = [];
      for (const buf of bufs) {
        const result = await runBufCurl({ buf, server: api.url, pki });
        // Exit code is buf's "not found" for the fixture's 404; the request itself went through.
        assert.match(result.stderr, /TLS connection using TLS ?v?1\.3/, buf.id);
        assert.match(result.stderr, /< \(#1\) HTTP\/2\.0 404/, buf.id);
        agents.push(/User-Agent: (.*)$/m.exec(result.stderr)?.[1] ?? '');
      }
      await capture.stop();
      const lines = readFileSync(api.serverKeyLog, 'utf8').split('\n').filter((l) => l !== '');
      assert.equal(lines.length, 4 * bufs.length);
      const rows = await tsharkFields(capture.file, {
        keyLog: api.serverKeyLog, tlsPort: api.port, filter: 'http2.headers.path',
        fields: ['http2.headers.path', 'http2.headers.user_agent'],
      });
      assert.deepEqual(rows.map((r) => r[0]), bufs.map(() => BUF_PING_PATH));
      assert.deepEqual(rows.map((r) => r[1]), agents);
      // The agent names the Go release that built each binary, as `go version` (the peer) does.
      assert.deepEqual(agents.map((a) => /\((go[\d.]+)\)/.exec(a)?.[1]), bufs.map((b) => b.goVersion));
    } finally {
      await capture.stop();
      await api.stop();
    }
  });
});
