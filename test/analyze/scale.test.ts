// 100,000 tiny TCP connections (plain HTTP/1.1, one request each, all anonymous): every output renders in
// one pass and the CLI's peak RSS stays under 512 MB (issue 12, item 4). The capture is built here, frame by
// frame, as tcpdump on an Ethernet link would have written it.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, openSync, writeSync } from 'node:fs';
import path from 'node:path';
import { secretTempDir } from '../support/pki.js';
import { runCliMeasured } from '../support/rss.js';

const CONNECTIONS = 100_000;
const MAX_RSS_MIB = 512;

/** Ethernet + IPv4 + TCP frame (checksums left 0: analyze, like tshark by default, does not verify them). */
function frame(src: number, dst: number, sport: number, dport: number, seq: number, ack: number, flags: number, payload: Buffer): Buffer {
  const f = Buffer.alloc(54 + payload.length);
  f.writeUInt16BE(0x0800, 12);
  f[14] = 0x45;
  f.writeUInt16BE(40 + payload.length, 16);
  f[22] = 64;
  f[23] = 6;
  f.writeUInt32BE(src, 26);
  f.writeUInt32BE(dst, 30);
  f.writeUInt16BE(sport, 34);
  f.writeUInt16BE(dport, 36);
  f.writeUInt32BE(seq >>> 0, 38);
  f.writeUInt32BE(ack >>> 0, 42);
  f[46] = 5 << 4;
  f[47] = flags;
  f.writeUInt16BE(65535, 48);
  payload.copy(f, 54);
  return f;
}

const SYN = 0x02, ACK = 0x10, PSH = 0x08, FIN = 0x01;

let capture = '';

before(() => {
  capture = path.join(secretTempDir('scale'), 'tiny-connections.pcap');
  const fd = openSync(capture, 'w', 0o600);
  try {
    const header = Buffer.alloc(24);
    header.writeUInt32LE(0xa1b2c3d4, 0);
    header.writeUInt16LE(2, 4);
    header.writeUInt16LE(4, 6);
    header.writeUInt32LE(65535, 16);
    header.writeUInt32LE(1, 20); // Ethernet
    writeSync(fd, header);
    const request = Buffer.from('GET /healthz HTTP/1.1\r\nHost: 10.0.0.1:6443\r\nUser-Agent: kube-probe/1.36\r\n\r\n');
    const response = Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
    const server = 0x0a000001;
    let t = 1_796_000_000;
    let usec = 0;
    const chunk: Buffer[] = [];
    const record = (data: Buffer): void => {
      usec += 7;
      const h = Buffer.alloc(16);
      h.writeUInt32LE(t + Math.floor(usec / 1e6), 0);
      h.writeUInt32LE(usec % 1e6, 4);
      h.writeUInt32LE(data.length, 8);
      h.writeUInt32LE(data.length, 12);
      chunk.push(h, data);
    };
    for (let i = 0; i < CONNECTIONS; i++) {
      const client = 0x0a010000 + (i >> 10); // 98 client addresses, ~1024 ports each
      const port = 20000 + (i & 1023);
      const c = 1000, s = 5000;
      record(frame(client, server, port, 6443, c, 0, SYN, Buffer.alloc(0)));
      record(frame(server, client, 6443, port, s, c + 1, SYN | ACK, Buffer.alloc(0)));
      record(frame(client, server, port, 6443, c + 1, s + 1, ACK | PSH, request));
      record(frame(server, client, 6443, port, s + 1, c + 1 + request.length, ACK | PSH, response));
      record(frame(client, server, port, 6443, c + 1 + request.length, s + 1 + response.length, FIN | ACK, Buffer.alloc(0)));
      record(frame(server, client, 6443, port, s + 1 + response.length, c + 2 + request.length, FIN | ACK, Buffer.alloc(0)));
      if (chunk.length > 4096) writeSync(fd, Buffer.concat(chunk.splice(0)));
    }
    writeSync(fd, Buffer.concat(chunk));
  } finally {
    closeSync(fd);
  }
});

for (const format of ['text', 'wide', 'tsv', 'json', 'ndjson']) {
  test(`${CONNECTIONS} tiny connections, -o ${format} with every table: complete, under ${MAX_RSS_MIB} MB`, async (t) => {
    const run = await runCliMeasured(['analyze', capture, '-o', format, '--connections', '--requests']);
    assert.equal(run.code, 0, run.stderr);
    if (format === 'text' || format === 'wide') {
      assert.match(run.stdout, new RegExp(`^Connections \\(${CONNECTIONS}\\):$`, 'm'));
      assert.match(run.stdout, new RegExp(`^Requests \\(${CONNECTIONS}\\):$`, 'm'));
      assert.match(run.stdout, /^system:anonymous +system:unauthenticated +anonymous /m);
    } else if (format === 'tsv') {
      assert.equal(run.stdout.split('\n').filter(Boolean).length, CONNECTIONS + 1);
    } else if (format === 'json') {
      const report = JSON.parse(run.stdout) as { connections: unknown[]; identities: Array<{ user: string; requests: number; connectionIds: unknown[] }> };
      assert.equal(report.connections.length, CONNECTIONS);
      assert.deepEqual(report.identities.map((i) => [i.user, i.requests, i.connectionIds.length]), [['system:anonymous', CONNECTIONS, CONNECTIONS]]);
    } else {
      const last = JSON.parse(run.stdout.trimEnd().split('\n').at(-1)!) as { type: string; connections: number; requests: number };
      assert.deepEqual([last.type, last.connections, last.requests], ['summary', CONNECTIONS, CONNECTIONS]);
    }
    t.diagnostic(`peak RSS ${run.peakRssMiB.toFixed(0)} MiB`);
    assert.ok(run.peakRssMiB < MAX_RSS_MIB, `peak RSS ${run.peakRssMiB.toFixed(0)} MiB`);
  });
}
