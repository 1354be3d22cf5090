// A TLS 1.3 connection joined mid-stream, for real: a Go tlsclient keeps one HTTP/2 connection and makes a
// request per second; tcpdump records it whole (A) and, from a moment after the handshake, again (B).
// The mid-stream key lines are built from the referees only: the secrets the client's own KeyLogWriter
// wrote at its handshake, and the sequence numbers tshark establishes by decrypting the whole capture A
// and counting each direction's application records before B's first segment. `analyze B` with those
// lines must list exactly the requests tshark decodes in B's part of A, which are the last ones of the
// client's own request log; a wrong secret or sequence number gives its reason and no request.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { loadFixtures, testPki, type GoFixture } from '../support/fixtures.js';
import { isRoot, requireOrSkip } from '../support/env.js';
import { secretTempDir } from '../support/pki.js';
import {
  commandExists, runProcess, secretFileIn, spawnChecked, startCapture, startProcess, startServer, tsharkFields,
} from '../support/traffic.js';
import { cliArgv } from '../support/paths.js';
import { runAnalyze } from './cli.js';

const REQUESTS = 7;
/** Distinct paths: a repeated one would be sent as a reference into the HPACK table from before the join. */
const PATHS = Array.from({ length: REQUESTS }, (_, i) => `/api/v1/namespaces/ns-${i}/pods?limit=${i + 1}`);
const CN = 'system:node:midstream-node';
/** TLS 1.3 handshake messages protected by the handshake secrets (one per record, as Go writes them). */
const HANDSHAKE_PHASE = new Set(['8', '13', '11', '15', '20']);

interface JoinedCapture {
  dir: string;
  /** The capture started after the handshake. */
  joined: string;
  /** The whole connection (for tshark, the referee). */
  full: string;
  clientKeyLog: string;
  client: { ip: string; port: number };
  server: { ip: string; port: number };
  /** Per direction: the client's secret, the records tshark counts before B, B's first and last packet time. */
  secrets: { client: string; server: string };
  seq: { client: number; server: number };
  /** Application records per direction in the whole capture. */
  total: { client: number; server: number };
  firstPacketNs: bigint;
  lastPacketNs: bigint;
  /** The client's own log: one `STATUS PROTO PATH BYTES` line per response. */
  clientLog: string[];
  /** What tshark decodes in A from B's first client segment on. */
  tsharkPaths: string[];
  /** The client certificate the test made (PEM file). */
  clientCert: string;
}

interface ConnectionJson {
  decrypted: boolean;
  reason?: string;
  client: { ip: string; port: number };
  server: { ip: string; port: number };
  identityFrom?: string;
  clientCertificate?: { commonName: string; sha256: string };
  midstream?: { note: string; joinedAt: string | null; unrecoverableHeaderFields: number; toServer: { keySeq: string; firstSeq: number | null; failure: string | null }; toClient: { keySeq: string; firstSeq: number | null; failure: string | null } };
}
interface ReportJson {
  identities?: Array<{ user: string; groups: string[]; notAfter: string; fingerprint: string; identityFrom: string[] }>;
  connections: ConnectionJson[];
  requests: Array<{ method?: string; path?: string; status?: number | null }>;
}

function programs(t: import('node:test').TestContext): { server: GoFixture; client: GoFixture } | null {
  const [server] = loadFixtures({ program: 'tlsserver', arch: 'amd64', mode: 'exe', stripped: false }).slice(-1);
  const [client] = loadFixtures({ program: 'tlsclient', arch: 'amd64', mode: 'exe', stripped: false }).slice(-1);
  if (!requireOrSkip(t, isRoot(), 'capturing with tcpdump needs root')) return null;
  if (!requireOrSkip(t, commandExists('tshark') && commandExists('tcpdump'), 'tshark and tcpdump are needed')) return null;
  if (!requireOrSkip(t, server !== undefined && client !== undefined, 'Go fixtures not built (npm run setup)')) return null;
  const usage = spawnSync(client!.path, ['-h'], { encoding: 'utf8' }).stderr;
  if (!requireOrSkip(t, usage.includes('-interval'), 'the tlsclient fixture predates -interval (rerun scripts/setup.sh)')) return null;
  return { server: server!, client: client! };
}

const ns = (epochSeconds: string): bigint => {
  const [whole, fraction = ''] = epochSeconds.split('.');
  return BigInt(whole!) * 1_000_000_000n + BigInt(fraction.padEnd(9, '0').slice(0, 9));
};

/** RFC 3339 with ns, written here rather than with the code under test. */
function rfc3339(timeNs: bigint): string {
  const seconds = new Date(Number(timeNs / 1_000_000_000n) * 1000).toISOString().slice(0, 19);
  return `${seconds}.${(timeNs % 1_000_000_000n).toString().padStart(9, '0')}Z`;
}

let joinedOnce: Promise<JoinedCapture> | undefined;

/** Records the connection once for all the tests of this file. */
function joinedCapture(p: { server: GoFixture; client: GoFixture }): Promise<JoinedCapture> {
  return (joinedOnce ??= record(p));
}

async function record(p: { server: GoFixture; client: GoFixture }): Promise<JoinedCapture> {
  const pki = await testPki();
  const cert = await pki.makeClientCert({ cn: CN, orgs: ['system:nodes'], days: 4 });
  const dir = secretTempDir('midstream');
  const clientKeyLog = secretFileIn(dir, 'client.keylog');
  const server = await startServer(p.server.path, ['-addr', '127.0.0.1:0', '-cert', pki.serverCert, '-key', pki.serverKey, '-client-ca', pki.caCert]);
  try {
    const full = await startCapture({ port: server.port, file: secretFileIn(dir, 'full.pcap') });
    const args = ['-url', `https://127.0.0.1:${server.port}/`, '-ca', pki.caCert, '-cert', cert.cert, '-key', cert.key, '-keylog', clientKeyLog];
    args.push('-n', String(REQUESTS), '-interval', '1s', ...PATHS.flatMap((x) => ['-path', x]));
    // The second capture starts once two responses came back: the handshake is long over by then.
    const { process: client } = await startProcess(p.client.path, args, { ready: /^(?:200 .*\n){2}/m, timeoutMs: 30_000 });
    const joined = await startCapture({ port: server.port, file: secretFileIn(dir, 'joined.pcap') });
    client.child.ref();
    const code = await new Promise<number | null>((resolve) => (client.child.exitCode !== null ? resolve(client.child.exitCode) : client.child.once('exit', resolve)));
    await joined.stop();
    await full.stop();
    assert.equal(code, 0, client.stderr());
    return { ...(await referee(dir, full.file, joined.file, clientKeyLog, server.port, client.stdout())), clientCert: cert.cert };
  } finally {
    await server.stop();
  }
}

async function referee(dir: string, fullPcap: string, joinedPcap: string, clientKeyLog: string, port: number, stdout: string): Promise<Omit<JoinedCapture, 'clientCert'>> {
  const keys = new Map(readFileSync(clientKeyLog, 'utf8').trim().split('\n').map((l) => [l.split(' ')[0]!, l.split(' ')[2]!] as const));
  const fields = ['tcp.srcport', 'tcp.dstport', 'tcp.seq_raw', 'frame.time_epoch', 'tls.record.opaque_type', 'tls.handshake.type'];
  const b = await tsharkFields(joinedPcap, { fields: fields.slice(0, 4) });
  assert.ok(b.length > 10, 'the joined capture has packets');
  const clientPort = Number(b.find((r) => r[1] === String(port))![0]);
  const firstSeq = (src: number): number => Number(b.find((r) => r[0] === String(src))![2]);
  const start = { client: firstSeq(clientPort), server: firstSeq(port) };
  const a = await tsharkFields(fullPcap, { keyLog: clientKeyLog, tlsPort: port, fields });
  const count = (src: number, before: number): number => {
    let records = 0;
    for (const [from, , seq, , opaque = '', types = ''] of a) {
      if (Number(from) !== src || Number(seq) >= before) continue;
      records += opaque.split(',').filter(Boolean).length - types.split(',').filter((x) => HANDSHAKE_PHASE.has(x)).length;
    }
    return records;
  };
  const paths = await tsharkFields(fullPcap, { keyLog: clientKeyLog, tlsPort: port, filter: `tcp.srcport == ${clientPort} && tcp.seq_raw >= ${start.client} && http2.headers.path`, fields: ['http2.headers.path'] });
  return {
    dir,
    joined: joinedPcap,
    full: fullPcap,
    clientKeyLog,
    client: { ip: '127.0.0.1', port: clientPort },
    server: { ip: '127.0.0.1', port },
    secrets: { client: keys.get('CLIENT_TRAFFIC_SECRET_0')!, server: keys.get('SERVER_TRAFFIC_SECRET_0')! },
    seq: { client: count(clientPort, start.client), server: count(port, start.server) },
    total: { client: count(clientPort, Infinity), server: count(port, Infinity) },
    firstPacketNs: ns(b[0]![3]!),
    lastPacketNs: ns(b.at(-1)![3]!),
    clientLog: stdout.trim().split('\n'),
    tsharkPaths: paths.flatMap((r) => r[0]!.split(',')),
  };
}

/** The two mid-stream lines, as the contract with `conns` spells them. */
function midstreamLines(j: JoinedCapture, o: { seq?: { client: number; server: number }; timeNs?: bigint; secret?: (hex: string) => string } = {}): string {
  const seq = o.seq ?? j.seq;
  const time = rfc3339(o.timeNs ?? j.firstPacketNs - 1_000_000n);
  const line = (dir: 'client' | 'server') =>
    `# GOKEYLOG_MIDSTREAM v=1 dir=${dir} suite=0x1301 client=${j.client.ip}:${j.client.port} server=${j.server.ip}:${j.server.port} ` +
    `seq=${seq[dir]} secret=${(o.secret ?? ((s) => s))(j.secrets[dir])} time=${time}`;
  return `${line('client')}\n${line('server')}\n`;
}

async function analyzeWith(j: JoinedCapture, name: string, lines: string, capture = j.joined, extra: string[] = []): Promise<ReportJson> {
  const keyLog = path.join(j.dir, name);
  writeFileSync(keyLog, lines, { mode: 0o600 });
  const run = await runAnalyze([capture, '--keylog', keyLog, '--json', ...extra]);
  assert.equal(run.code, 0, run.stderr);
  return JSON.parse(run.stdout) as ReportJson;
}

test('analyze decrypts a TLS 1.3 connection joined mid-stream: the paths equal tshark on the whole capture and the end of the client log', async (t) => {
  const p = programs(t);
  if (!p) return;
  const j = await joinedCapture(p);
  // The referees agree with each other: tshark's paths in B are the last requests of the client's log.
  assert.ok(j.tsharkPaths.length >= 3, `requests after the join: ${j.tsharkPaths.join(' ')}`);
  assert.deepEqual(j.tsharkPaths, j.clientLog.slice(-j.tsharkPaths.length).map((l) => l.split(' ')[2]));

  const report = await analyzeWith(j, 'joined.keys', midstreamLines(j));
  assert.equal(report.connections.length, 1);
  const c = report.connections[0]!;
  assert.deepEqual([c.decrypted, c.reason ?? null], [true, null]);
  assert.deepEqual([c.client, c.server], [j.client, j.server]);
  assert.match(c.midstream!.note, /^joined mid-stream at \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z; \d+ header fields? not recoverable$/);
  // The user agent, accept and :authority of every request were indexed before the join.
  assert.ok(c.midstream!.unrecoverableHeaderFields > 0);
  assert.deepEqual([c.midstream!.toServer.failure, c.midstream!.toClient.failure], [null, null]);
  const requested = report.requests.filter((r) => r.path !== undefined);
  assert.deepEqual(requested.map((r) => r.path), j.tsharkPaths);
  assert.deepEqual(requested.map((r) => [r.method, r.status]), j.tsharkPaths.map(() => ['GET', 200]));
  // The text report says it without being asked for the connections table.
  const text = await runAnalyze([j.joined, '--keylog', path.join(j.dir, 'joined.keys')]);
  assert.match(text.stdout, new RegExp(`connection 1 ${j.client.ip}:${j.client.port} → ${j.server.ip}:${j.server.port}: joined mid-stream at \\S+Z; ${c.midstream!.unrecoverableHeaderFields} header fields not recoverable`));
});

test('keys read after the capture ended decrypt it backwards from their sequence numbers', async (t) => {
  const p = programs(t);
  if (!p) return;
  const j = await joinedCapture(p);
  const report = await analyzeWith(j, 'later.keys', midstreamLines(j, { seq: j.total, timeNs: j.lastPacketNs + 5_000_000_000n }));
  const c = report.connections[0]!;
  assert.equal(c.decrypted, true, c.reason);
  assert.deepEqual(report.requests.filter((r) => r.path !== undefined).map((r) => r.path), j.tsharkPaths);
});

test('a sequence number a few records off is corrected by AEAD verification, and said so', async (t) => {
  const p = programs(t);
  if (!p) return;
  const j = await joinedCapture(p);
  const seq = { client: j.seq.client + 3, server: Math.max(0, j.seq.server - 2) };
  const report = await analyzeWith(j, 'off.keys', midstreamLines(j, { seq }));
  const c = report.connections[0]!;
  assert.equal(c.decrypted, true, c.reason);
  assert.deepEqual([c.midstream!.toServer.keySeq, c.midstream!.toClient.keySeq], [String(seq.client), String(seq.server)]);
  // The first whole record of B has the sequence number tshark counted (or the next, when B joined inside a record).
  assert.ok([j.seq.client, j.seq.client + 1].includes(c.midstream!.toServer.firstSeq!), String(c.midstream!.toServer.firstSeq));
  assert.deepEqual(report.requests.filter((r) => r.path !== undefined).map((r) => r.path), j.tsharkPaths);
});

test('a wrong secret or a sequence number far off gives its reason and no request, never garbage', async (t) => {
  const p = programs(t);
  if (!p) return;
  const j = await joinedCapture(p);
  const flip = (hex: string): string => (hex[0] === '0' ? '1' : '0') + hex.slice(1);
  for (const [name, lines] of [
    ['wrong-secret.keys', midstreamLines(j, { secret: flip })],
    ['far-seq.keys', midstreamLines(j, { seq: { client: j.seq.client + 100_000, server: j.seq.server + 100_000 } })],
  ] as const) {
    const report = await analyzeWith(j, name, lines);
    const c = report.connections[0]!;
    assert.deepEqual([c.decrypted, c.reason], [false, 'mid-stream key did not verify'], name);
    assert.match(c.midstream!.toServer.failure!, /no record authenticates with the logged secret at sequence numbers \d+…\d+/, name);
    assert.deepEqual(report.requests, [], name);
  }
});

test('without mid-stream keys the joined connection still says its handshake was not captured', async (t) => {
  const p = programs(t);
  if (!p) return;
  const j = await joinedCapture(p);
  const report = await analyzeWith(j, 'nss-only.keys', readFileSync(j.clientKeyLog, 'utf8'));
  assert.deepEqual([report.connections[0]!.decrypted, report.connections[0]!.reason], [false, 'handshake not captured']);
});

test('tshark and editcap read key logs and pcapng DSBs with mid-stream lines as before; analyze reads the lines from the DSB', async (t) => {
  const p = programs(t);
  if (!p) return;
  if (!requireOrSkip(t, commandExists('editcap'), 'editcap is needed')) return;
  const j = await joinedCapture(p);
  const mixed = path.join(j.dir, 'mixed.keys');
  writeFileSync(mixed, midstreamLines(j) + readFileSync(j.clientKeyLog, 'utf8') + midstreamLines(j), { mode: 0o600 });
  // The key log file: tshark decrypts the whole capture with the NSS lines, silently skipping ours.
  const args = ['-r', j.full, '-n', '-o', `tls.keylog_file:${mixed}`, '-d', `tcp.port==${j.server.port},tls`, '-Y', 'http2.headers.path', '-T', 'fields', '-e', 'http2.headers.path'];
  const withMixed = await runProcess('tshark', args);
  assert.equal(withMixed.code, 0, withMixed.stderr);
  assert.doesNotMatch(withMixed.stderr, /error|warn|invalid|GOKEYLOG/i);
  const pathsOf = (out: string): string[] => out.trim().split('\n').flatMap((l) => l.split(','));
  assert.deepEqual(pathsOf(withMixed.stdout), j.clientLog.map((l) => l.split(' ')[2]));
  // gokeylog inject carries the lines into the DSB too, also with --only-needed (no ClientHello names them).
  const injected = path.join(j.dir, 'injected.pcapng');
  const inject = await runProcess(process.execPath, [...cliArgv(), 'inject', '--keylog', mixed, '--only-needed', j.joined, '-o', injected]);
  assert.equal(inject.code, 0, inject.stderr);
  const fromInject = await runAnalyze([injected, '--json']);
  assert.deepEqual((JSON.parse(fromInject.stdout) as ReportJson).requests.filter((r) => r.path !== undefined).map((r) => r.path), j.tsharkPaths);
  // The pcapng DSB (written by the peer tool): tshark decrypts with no options; analyze finds the lines.
  for (const [capture, name] of [[j.full, 'full-dsb.pcapng'], [j.joined, 'joined-dsb.pcapng']] as const) {
    const out = path.join(j.dir, name);
    await spawnChecked('editcap', ['--inject-secrets', `tls,${mixed}`, capture, out]);
    if (capture === j.full) {
      const dsb = await runProcess('tshark', ['-r', out, '-n', '-d', `tcp.port==${j.server.port},tls`, '-Y', 'http2.headers.path', '-T', 'fields', '-e', 'http2.headers.path']);
      assert.equal(dsb.code, 0, dsb.stderr);
      assert.doesNotMatch(dsb.stderr, /error|warn|invalid|GOKEYLOG/i);
      assert.deepEqual(pathsOf(dsb.stdout), j.clientLog.map((l) => l.split(' ')[2]));
    } else {
      const run = await runAnalyze([out, '--json']);
      assert.equal(run.code, 0, run.stderr);
      const report = JSON.parse(run.stdout) as ReportJson;
      assert.equal(report.connections[0]!.decrypted, true, report.connections[0]!.reason);
      assert.deepEqual(report.requests.filter((r) => r.path !== undefined).map((r) => r.path), j.tsharkPaths);
    }
  }
});

/** The certificate as openssl reads it: the referee for what the report must say about the identity. */
async function opensslFacts(pem: string): Promise<{ sha256: string; notAfter: string; der: string }> {
  const fingerprint = (await spawnChecked('openssl', ['x509', '-in', pem, '-noout', '-fingerprint', '-sha256'])).stdout.trim().split('=')[1]!;
  const end = (await spawnChecked('openssl', ['x509', '-in', pem, '-noout', '-enddate'])).stdout.trim().split('=')[1]!;
  const der = readFileSync(pem, 'utf8').replace(/-----[A-Z ]+-----|\s/g, '');
  return { sha256: fingerprint, notAfter: new Date(end).toISOString(), der };
}

test('identities say where they came from: the handshake in the capture, or the live process (analyze --conns)', async (t) => {
  const p = programs(t);
  if (!p) return;
  const j = await joinedCapture(p);
  const facts = await opensslFacts(j.clientCert);
  // conns --json's shape, as the live process would report this connection (the target is the server).
  const row = (certificate: object) => ({
    pid: 1, comm: 'tlsserver', status: 'tls', side: 'server', local: `${j.server.ip}:${j.server.port}`, peer: `${j.client.ip}:${j.client.port}`,
    tlsVersion: 'TLS 1.3', cipherSuite: 'TLS_AES_128_GCM_SHA256', alpn: 'h2', serverName: null, certificate,
  });
  const withDer = path.join(j.dir, 'conns-der.json');
  writeFileSync(withDer, JSON.stringify({ connections: [row({ der: facts.der })] }));
  const fieldsOnly = path.join(j.dir, 'conns-fields.json');
  writeFileSync(fieldsOnly, JSON.stringify({ connections: [row({ commonName: CN, organizations: ['system:nodes'], issuer: 'CN=gokeylog test CA', notBefore: new Date().toISOString(), notAfter: facts.notAfter, serialNumber: '01', sha256: facts.sha256 })] }));
  for (const conns of [withDer, fieldsOnly]) {
    const report = await analyzeWith(j, 'live.keys', midstreamLines(j), j.joined, ['--conns', conns]);
    const c = report.connections[0]!;
    assert.deepEqual([c.clientCertificate?.commonName, c.clientCertificate?.sha256, c.identityFrom], [CN, facts.sha256, 'live process'], conns);
    const identity = report.identities!.find((i) => i.user === CN)!;
    assert.deepEqual([identity.groups, identity.notAfter, identity.identityFrom], [['system:nodes'], facts.notAfter, ['live process']], conns);
    assert.deepEqual(report.requests.filter((r) => r.path !== undefined).map((r) => r.path), j.tsharkPaths, conns);
  }
  // The whole capture has the handshake: the same identity, read from it.
  const full = await analyzeWith(j, 'full.keys', readFileSync(j.clientKeyLog, 'utf8'), j.full);
  assert.deepEqual([full.connections[0]!.clientCertificate?.sha256, full.connections[0]!.identityFrom], [facts.sha256, 'handshake']);
  assert.deepEqual(full.identities!.find((i) => i.user === CN)!.identityFrom, ['handshake']);
});

test('analyze --conns refuses what is not conns --json output in one sentence', async () => {
  const dir = secretTempDir('conns-json');
  for (const [text, why] of [['{', /not JSON/], ['{"rows":[]}', /no "connections" list/], ['{"connections":[{"status":"tls","local":"x","peer":"y"}]}', /no local\/peer IP:PORT/], ['{"connections":[{"status":"tls","side":"server","local":"10.0.0.1:6443","peer":"10.0.0.2:5000","certificate":{"commonName":"a"}}]}', /certificate is incomplete/]] as const) {
    const file = path.join(dir, 'bad.json');
    writeFileSync(file, text);
    const run = await runAnalyze([path.join(dir, 'none.pcap'), '--conns', file]);
    assert.equal(run.code, 3, run.stderr);
    assert.match(run.stderr, why);
    assert.doesNotMatch(run.stderr, /\n\s+at /);
  }
});

test('the roles the capture cannot tell come from the key lines: a server on a higher port than its client', async (t) => {
  const p = programs(t);
  if (!p) return;
  if (!requireOrSkip(t, commandExists('tcprewrite'), 'tcprewrite (tcpreplay) is needed')) return;
  const j = await joinedCapture(p);
  // Without a SYN the reassembler takes the lower port for the server: move the server above its client.
  const high = 65_100;
  assert.ok(high > j.client.port);
  const moved = path.join(j.dir, 'moved.pcap');
  await spawnChecked('tcprewrite', [`--portmap=${j.server.port}:${high}`, '--fixcsum', `--infile=${j.joined}`, `--outfile=${moved}`]);
  const movedCapture: JoinedCapture = { ...j, server: { ...j.server, port: high } };
  const guessed = await analyzeWith(movedCapture, 'moved-nss.keys', readFileSync(j.clientKeyLog, 'utf8'), moved);
  assert.deepEqual(guessed.connections[0]!.server, j.client, 'without the key lines the roles are guessed the other way round');
  const report = await analyzeWith(movedCapture, 'moved.keys', midstreamLines(movedCapture), moved);
  const c = report.connections[0]!;
  assert.equal(c.decrypted, true, c.reason);
  assert.deepEqual([c.client, c.server], [j.client, { ip: j.server.ip, port: high }]);
  assert.deepEqual(report.requests.filter((r) => r.path !== undefined).map((r) => r.path), j.tsharkPaths);
});
