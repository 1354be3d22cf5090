// The operator's answer, on real captures made here: a Go server requiring client certificates (two
// certificates with the admin's name, rotated; one expiring in 47 h; one expired, which the server refuses
// with an alert; an impostor with the admin's subject from another CA) and a Go server taking tokens (a
// service-account-shaped JWT made by the test, a legacy token without exp, an opaque token, Basic auth, an
// access_token query parameter, anonymous). Referees: openssl for certificate fingerprints, serials and CA key
// ids, tshark for the alerts the server sent, the clients' own output for request counts, SHA-256 of the
// tokens for their fingerprints. No secret may appear in any output.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, X509Certificate } from 'node:crypto';
import { copyFileSync, readFileSync, truncateSync } from 'node:fs';
import path from 'node:path';
import { createPki } from '../../src/demo/pki.js';
import { loadFixtures, testPki, type TestPki } from '../support/fixtures.js';
import { isRoot, requireOrSkip } from '../support/env.js';
import { secretTempDir, type CertPair } from '../support/pki.js';
import { commandExists, runCurl, runProcess, runTlsclient, secretFileIn, spawnChecked, startTlsServerSession, tsharkFields } from '../support/traffic.js';
import { cliArgv } from '../support/paths.js';
import { runAnalyze } from './cli.js';

interface JsonIdentity {
  user: string | null; groups: string[]; kind: string; credential: string; credentialId: string | null; fingerprint: string | null;
  issuer: string | null; issuerKeyId: string | null; serialNumber: string | null; notAfter: string | null; expired: boolean; expiringSoon: boolean;
  legacy: boolean; rejected: string | null; attention: string[]; clients: string[]; requests: number; connectionIds: number[]; userAgents: string[];
  token: { sub: string | null; jti: string | null; exp: number | null; kubernetes: { namespace: string | null; pod: string | null } | null } | null;
}

const b64url = (v: unknown): string => Buffer.from(JSON.stringify(v)).toString('base64url');
const sha16 = (s: string): string => createHash('sha256').update(s).digest('hex').slice(0, 16);

interface Scenario {
  dir: string;
  pcaps: string[];
  keyLogs: string[];
  pki: TestPki;
  certs: Record<'adminOld' | 'adminNew' | 'controllerManager' | 'expiredNode' | 'impostor', CertPair>;
  /** Responses each client printed (its own count of answered requests). */
  answered: Record<string, number>;
  tokens: { bound: string; legacy: string; opaque: string; query: string; basic: string; password: string };
  ports: number[];
}

let scenario: Scenario | null = null;
let skipReason = '';

const lines = (out: string): number => out.split('\n').filter(Boolean).length;

before(async () => {
  const server = loadFixtures({ program: 'tlsserver', arch: 'amd64', mode: 'exe', stripped: false }).at(-1);
  const client = loadFixtures({ program: 'tlsclient', arch: 'amd64', mode: 'exe', stripped: false }).at(-1);
  if (!isRoot()) skipReason = 'capturing with tcpdump needs root';
  else if (!commandExists('tcpdump') || !commandExists('tshark') || !commandExists('curl')) skipReason = 'tcpdump, tshark and curl are needed';
  else if (!server || !client) skipReason = 'Go fixtures not built (npm run setup)';
  if (skipReason) return;

  const pki = await testPki();
  const dir = secretTempDir('identities');
  const otherCa = await createPki(secretTempDir('impostor-ca'));
  const certs = {
    adminOld: await pki.makeClientCert({ cn: 'kubernetes-admin', orgs: ['system:masters'], days: 200 }),
    adminNew: await pki.makeClientCert({ cn: 'kubernetes-admin', orgs: ['system:masters'], days: 365 }),
    controllerManager: await pki.makeClientCert({ cn: 'system:kube-controller-manager', days: 47.5 / 24 }),
    expiredNode: await pki.makeClientCert({ cn: 'system:node:worker-1', orgs: ['system:nodes'], days: -2 }),
    impostor: await otherCa.makeClientCert({ cn: 'kubernetes-admin', orgs: ['system:masters'], days: 365 }),
  };
  const answered: Record<string, number> = {};

  // 1. Client certificates, as kube-apiserver's clients present them.
  const mtls = await startTlsServerSession({ server: server!, pki, clientCa: true, capture: true });
  try {
    const paths = ['/api/v1/namespaces/kube-system/pods?limit=2', '/apis/apps/v1/namespaces/default/deployments', '/healthz'];
    for (const [name, requests, userAgent] of [
      ['adminOld', 3, 'kubectl/v1.36.4 (linux/amd64) kubernetes/0000000'], ['adminNew', 2, 'kubectl/v1.36.4 (linux/amd64) kubernetes/0000000'],
      ['controllerManager', 4, 'kube-controller-manager/v1.36.0 (linux/amd64) kubernetes/0000000/leader-election'],
    ] as const) {
      const r = await runTlsclient(client!, mtls, { pki, cert: certs[name], requests, paths, userAgent });
      assert.equal(r.code, 0, r.stderr);
      answered[name] = lines(r.stdout);
    }
    for (const name of ['expiredNode', 'impostor'] as const) {
      const r = await runTlsclient(client!, mtls, { pki, cert: certs[name], requests: 1, paths });
      assert.equal(r.code, 1, `the server must refuse ${name}`);
    }
  } finally {
    await mtls.stop();
  }

  // 2. Tokens and Basic auth, from distinct loopback addresses, on a server that asks for no certificate.
  const now = Math.floor(Date.now() / 1000);
  const tokens = {
    bound: `${b64url({ alg: 'RS256', kid: 'sa-key' })}.${b64url({
      aud: ['https://kubernetes.default.svc'], exp: now + 3.5 * 3600, iat: now - 60, nbf: now - 60, iss: 'https://kubernetes.default.svc', jti: 'b7c9a1e2-jti',
      sub: 'system:serviceaccount:kube-system:coredns',
      'kubernetes.io': { namespace: 'kube-system', node: { name: 'worker-2', uid: 'n' }, pod: { name: 'coredns-5d78c9869d-abcde', uid: 'p' }, serviceaccount: { name: 'coredns', uid: 's' }, warnafter: now + 1800 },
    })}.${Buffer.from('signature-never-checked').toString('base64url')}`,
    legacy: `${b64url({ alg: 'RS256' })}.${b64url({
      iss: 'kubernetes/serviceaccount', sub: 'system:serviceaccount:ci:builder', 'kubernetes.io/serviceaccount/namespace': 'ci',
      'kubernetes.io/serviceaccount/secret.name': 'builder-token-x7k2p', 'kubernetes.io/serviceaccount/service-account.name': 'builder',
    })}.${Buffer.from('legacy-signature').toString('base64url')}`,
    opaque: 'opaque-7f3e9c2a41d86b05e1f4a9c3d2b7e680',
    query: 'querytoken-5e1f4a9c3d2b7e680',
    password: 'hunter2-s3cret-passw0rd',
    basic: '',
  };
  tokens.basic = Buffer.from(`alice:${tokens.password}`).toString('base64');
  const plain = await startTlsServerSession({ server: server!, pki, capture: true });
  try {
    const keyLog = secretFileIn(plain.dir, 'curl.keylog');
    const url = (...p: string[]) => p.map((x) => `https://127.0.0.1:${plain.port}${x}`);
    const curl = async (name: string, urls: string[], extra: Partial<Parameters<typeof runCurl>[0]>) => {
      answered[name] = lines(await runCurl({ urls, pki, keyLog, ...extra }));
    };
    await curl('bound', url('/api/v1/namespaces/kube-system/pods?limit=1', '/api/v1/namespaces/kube-system/pods?watch=1'), {
      headers: [`Authorization: Bearer ${tokens.bound}`], userAgent: 'coredns/v1.11.1 (linux/amd64)', sourceAddress: '127.0.0.11',
    });
    await curl('legacy', url('/apis/apps/v1/namespaces/ci/deployments'), { headers: [`Authorization: Bearer ${tokens.legacy}`], sourceAddress: '127.0.0.12' });
    await curl('opaque', url('/api/v1/namespaces/default/pods?limit=1'), { headers: [`Authorization: Bearer ${tokens.opaque}`], sourceAddress: '127.0.0.13' });
    await curl('basic', url('/healthz'), { basicAuth: `alice:${tokens.password}`, sourceAddress: '127.0.0.14', h1: true });
    await curl('query', url(`/api/v1/namespaces/default/pods?limit=1&access_token=${tokens.query}`), { sourceAddress: '127.0.0.15', h1: true });
    await curl('anonymous', url('/healthz', '/api'), { sourceAddress: '127.0.0.16' });
  } finally {
    await plain.stop();
  }
  scenario = { dir, pcaps: [mtls.pcap!, plain.pcap!], keyLogs: [mtls.serverKeyLog, plain.serverKeyLog], pki, certs, answered, tokens, ports: [mtls.port, plain.port] };
});

function ready(t: import('node:test').TestContext): Scenario | null {
  if (!requireOrSkip(t, scenario !== null, skipReason || 'scenario not built')) return null;
  return scenario;
}

const analyzeArgs = (s: Scenario, ...more: string[]): string[] => [...s.pcaps, ...s.keyLogs.flatMap((k) => ['--keylog', k]), ...more];

async function openssl(cert: string, ...what: string[]): Promise<string> {
  return (await spawnChecked('openssl', ['x509', '-in', cert, '-noout', ...what])).stdout.trim();
}

async function jsonReport(s: Scenario, ...more: string[]): Promise<{ identities: JsonIdentity[]; connections: Array<{ id: number; rejected?: string; client: { ip: string } }> }> {
  const run = await runAnalyze(analyzeArgs(s, '-o', 'json', ...more));
  assert.equal(run.code, 0, run.stderr);
  return JSON.parse(run.stdout);
}

test('every credential is an identity: certificates by fingerprint, issuer and CA key; refused ones say why', async (t) => {
  const s = ready(t);
  if (!s) return;
  const report = await jsonReport(s);
  const byFingerprint = new Map(report.identities.map((i) => [i.fingerprint, i]));
  for (const [name, cert] of Object.entries(s.certs)) {
    const sha = (await openssl(cert.cert, '-fingerprint', '-sha256')).split('=')[1]!.replace(/:/g, '').toLowerCase();
    const identity = byFingerprint.get(sha);
    assert.ok(identity, `${name} is an identity`);
    assert.equal(identity.credentialId, `X509SHA256=${sha}`, name);
    assert.equal(identity.serialNumber, (await openssl(cert.cert, '-serial')).split('=')[1], name);
    assert.equal(identity.issuer, (await openssl(cert.cert, '-issuer', '-nameopt', 'RFC2253')).replace(/^issuer=/, ''), name);
    const aki = (await openssl(cert.cert, '-ext', 'authorityKeyIdentifier')).split('\n')[1]!.trim().replace(/^keyid:/, '');
    assert.equal(identity.issuerKeyId, aki, name);
    assert.deepEqual(identity.clients, ['127.0.0.1'], name);
  }
  const id = (name: keyof Scenario['certs']) =>
    report.identities.find((i) => i.credentialId === `X509SHA256=${new X509Certificate(readFileSync(s.certs[name].cert)).fingerprint256.replace(/:/g, '').toLowerCase()}`)!;
  // Rotated: two identities with one name, each with its own requests.
  assert.deepEqual([id('adminOld').user, id('adminOld').groups, id('adminOld').requests], ['kubernetes-admin', ['system:masters'], s.answered.adminOld]);
  assert.deepEqual([id('adminNew').user, id('adminNew').requests], ['kubernetes-admin', s.answered.adminNew]);
  assert.equal(id('controllerManager').requests, s.answered.controllerManager);
  assert.deepEqual(id('controllerManager').attention, ['expiring']);
  // The server's alerts, as tshark decrypts them (the clients, writing before they read, may only see a reset).
  const alerts = (await tsharkFields(s.pcaps[0]!, { keyLog: s.keyLogs[0], tlsPort: s.ports[0], filter: 'tls.alert_message.desc', fields: ['tls.alert_message.desc'] })).map((r) => r[0]);
  assert.ok(alerts.includes('45') && alerts.includes('48'), `tshark sees alerts ${alerts}`);
  assert.deepEqual([id('expiredNode').rejected, id('expiredNode').expired, id('expiredNode').requests, id('expiredNode').attention], ['certificate_expired', true, 0, ['expired', 'rejected']]);
  // The impostor: the admin's subject, another CA — another identity, refused.
  const impostor = id('impostor');
  assert.deepEqual([impostor.user, impostor.groups, impostor.rejected, impostor.requests], ['kubernetes-admin', ['system:masters'], 'unknown_ca', 0]);
  assert.notEqual(impostor.issuerKeyId, id('adminOld').issuerKeyId);
  const refused = report.connections.filter((c) => c.rejected).map((c) => c.rejected).sort();
  assert.ok(refused.length >= 2 && refused.every((r) => r === 'certificate_expired' || r === 'unknown_ca'), String(refused));
});

test('tokens: JWT claims decoded, legacy flagged, opaque and Basic named by fingerprint, anonymous as the server names it', async (t) => {
  const s = ready(t);
  if (!s) return;
  const report = await jsonReport(s);
  const by = (fingerprint: string | null) => report.identities.find((i) => i.fingerprint === fingerprint)!;
  const bound = by(sha16(s.tokens.bound));
  assert.deepEqual(
    [bound.user, bound.groups, bound.kind, bound.credential, bound.credentialId, bound.token?.jti, bound.token?.kubernetes?.pod, bound.clients, bound.requests, bound.attention],
    ['system:serviceaccount:kube-system:coredns', ['system:serviceaccounts', 'system:serviceaccounts:kube-system'], 'jwt', 'service-account token', 'JTI=b7c9a1e2-jti',
      'b7c9a1e2-jti', 'coredns-5d78c9869d-abcde', ['127.0.0.11'], s.answered.bound, ['expiring']],
  );
  const legacy = by(sha16(s.tokens.legacy));
  assert.deepEqual([legacy.user, legacy.credential, legacy.legacy, legacy.notAfter, legacy.attention, legacy.clients],
    ['system:serviceaccount:ci:builder', 'legacy service-account token', true, null, ['legacy'], ['127.0.0.12']]);
  const opaque = by(sha16(s.tokens.opaque));
  assert.deepEqual([opaque.user, opaque.credential, opaque.clients, opaque.requests], [null, 'bearer token (opaque)', ['127.0.0.13'], s.answered.opaque]);
  const basic = by(sha16(s.tokens.basic));
  assert.deepEqual([basic.user, basic.credential, basic.clients], ['alice', 'basic auth user alice', ['127.0.0.14']]);
  const query = by(sha16(s.tokens.query));
  assert.deepEqual([query.credential, query.clients], ['bearer token (opaque)', ['127.0.0.15']]);
  const anonymous = report.identities.find((i) => i.kind === 'anonymous')!;
  assert.deepEqual([anonymous.user, anonymous.groups, anonymous.clients, anonymous.requests], ['system:anonymous', ['system:unauthenticated'], ['127.0.0.16'], s.answered.anonymous]);
});

test('no token, password or cookie text in any output format', async (t) => {
  const s = ready(t);
  if (!s) return;
  const secrets = [s.tokens.bound, s.tokens.legacy, s.tokens.opaque, s.tokens.query, s.tokens.basic, s.tokens.password,
    // Parts of a JWT are secrets too: its signature, and the whole payload as sent.
    s.tokens.bound.split('.')[2]!, s.tokens.bound.split('.')[1]!];
  const html = path.join(s.dir, 'report.html');
  const outputs: Record<string, string> = {};
  for (const format of ['text', 'wide', 'json', 'ndjson', 'tsv', 'csv']) {
    const run = await runAnalyze(analyzeArgs(s, '-o', format, '--requests', '--connections', '--bodies', ...(format === 'json' ? ['--html', html] : [])));
    assert.equal(run.code, 0, run.stderr);
    outputs[format] = run.stdout + run.stderr;
  }
  outputs.html = readFileSync(html, 'utf8');
  for (const [format, text] of Object.entries(outputs)) {
    for (const secret of secrets) assert.ok(!text.includes(secret), `${format} output holds a secret (${secret.slice(0, 12)}…)`);
    assert.ok(text.length > 500, `${format} output is not empty`);
  }
  assert.match(outputs.json!, /access_token=REDACTED/);
});

test('text: answers first, sorted by time left, one line per credential with who, from where and what', async (t) => {
  const s = ready(t);
  if (!s) return;
  const run = await runAnalyze(analyzeArgs(s));
  assert.equal(run.code, 0, run.stderr);
  const out = run.stdout;
  assert.match(out.split('\n')[1]!, /^Expiry measured from \S+ \(the start of the first capture\); window 30 days\.$/);
  const answers = out.split('\n').filter((l) => l.startsWith('! ') && !l.includes('server certificate') && !l.includes('different CAs'));
  assert.equal(answers.length, 5, answers.join('\n'));
  assert.match(answers[0]!, /^! EXPIRED 2 days ago, rejected: certificate_expired: system:node:worker-1 \[system:nodes\] — client certificate X509SHA256=[0-9a-f]{64} .* from 127\.0\.0\.1 /);
  assert.match(answers[1]!, /^! expires in 3 h: system:serviceaccount:kube-system:coredns \[system:serviceaccounts, system:serviceaccounts:kube-system\] — service-account token sha256:[0-9a-f]{16} JTI=b7c9a1e2-jti .*— from 127\.0\.0\.11 .*— coredns\/v1\.11\.1 \(linux\/amd64\) — 2 requests: (list|watch) pods ×1, (list|watch) pods ×1$/);
  assert.match(answers[2]!, /^! expires in 47 h: system:kube-controller-manager — client certificate X509SHA256=[0-9a-f]{64} .*— 4 requests: /);
  assert.match(answers[3]!, /^! expires in 36[45] days, rejected: unknown_ca: kubernetes-admin \[system:masters\] /);
  assert.match(answers[4]!, /^! legacy, never expires: system:serviceaccount:ci:builder \[system:serviceaccounts, system:serviceaccounts:ci\] — legacy service-account token sha256:[0-9a-f]{16} issued by kubernetes\/serviceaccount — from 127\.0\.0\.12 /);
  assert.match(out, /! kubernetes-admin presented certificates from 2 different CAs/);
  // Plain columns for pipes: no box drawing, no colour, one header line.
  assert.doesNotMatch(out, /[─│┌┐└┘├┤┬┴┼═║]|\u001b\[/);
  const table = out.slice(out.indexOf('Identities ('));
  assert.match(table.split('\n')[1]!, /^USER +GROUPS +TYPE +ISSUER +EXPIRES +STATUS +CLIENTS +CONNS +REQS +FINGERPRINT\b/);
  // Connections and requests only when asked.
  assert.doesNotMatch(out, /^Connections \(/m);
  const wide = await runAnalyze(analyzeArgs(s, '-o', 'wide'));
  assert.match(wide.stdout, /^Connections \(\d+\):$/m);
  assert.match(wide.stdout, /^Requests \(\d+\):$/m);
  const tsv = (await runAnalyze(analyzeArgs(s, '-o', 'tsv'))).stdout.split('\n').filter(Boolean);
  const fields = tsv[0]!.split('\t').length;
  assert.equal(tsv[0]!.split('\t')[0], 'USER');
  const noHeaders = (await runAnalyze(analyzeArgs(s, '-o', 'tsv', '--no-headers'))).stdout.split('\n').filter(Boolean);
  assert.deepEqual(noHeaders, tsv.slice(1));
  assert.ok(noHeaders.every((l) => l.split('\t').length === fields));
});

/**
 * The CLI under a pseudo-terminal of `columns` columns (util-linux script), as a person sees it: what it wrote
 * to the terminal, from script's typescript file (without its "Script started/done" lines).
 */
async function onTerminal(s: Scenario, args: string[], columns: number): Promise<string> {
  const command = [process.execPath, ...cliArgv(), 'analyze', ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  const typescript = path.join(s.dir, `terminal-${columns}.txt`);
  const r = await runProcess('script', ['-qec', `stty cols ${columns} rows 60; ${command}`, typescript], { env: { ...process.env, NO_COLOR: '1' }, timeoutMs: 120_000 });
  assert.equal(r.code, 0, r.stderr);
  return readFileSync(typescript, 'utf8').replace(/\r/g, '').split('\n').filter((l) => !/^Script (started|done) on /.test(l)).join('\n');
}

for (const columns of [80, 120]) {
  test(`on a ${columns}-column terminal every line fits, no rule between rows`, async (t) => {
    const s = ready(t);
    if (!s || !requireOrSkip(t, commandExists('script'), 'script (util-linux) is needed')) return;
    const out = await onTerminal(s, analyzeArgs(s, '--requests', '--connections'), columns);
    const shown = out.split('\n');
    for (const line of shown) assert.ok([...line].length <= columns, `${[...line].length} > ${columns}: ${line}`);
    assert.ok(shown.some((l) => l.startsWith('USER ')) && shown.some((l) => /^TIME +CONN/.test(l)), out);
    assert.ok(!shown.some((l) => /^[-─━=+ ]{3,}$/.test(l) && /[-─━=]/.test(l)), 'no rule lines');
    // The answers wrap with an indent instead of running off the screen.
    assert.ok(shown.some((l) => l.startsWith('! expires in 47 h')) && shown.some((l) => l.startsWith('    ')), out);
  });
}

test('filters answer "who uses this?"', async (t) => {
  const s = ready(t);
  if (!s) return;
  const users = async (...filter: string[]) => (await jsonReport(s, ...filter)).identities.map((i) => i.user ?? i.credential).sort();
  assert.deepEqual(await users('--user', 'kubernetes-admin'), ['kubernetes-admin', 'kubernetes-admin', 'kubernetes-admin']);
  assert.deepEqual(await users('--cert', s.certs.adminNew.cert), ['kubernetes-admin']);
  const fingerprint = (await openssl(s.certs.controllerManager.cert, '-fingerprint', '-sha256')).split('=')[1]!.slice(0, 11);
  assert.deepEqual(await users('--fingerprint', fingerprint), ['system:kube-controller-manager']);
  assert.deepEqual(await users('--serial', (await openssl(s.certs.expiredNode.cert, '-serial')).split('=')[1]!), ['system:node:worker-1']);
  assert.deepEqual(await users('--group', 'system:serviceaccounts'), ['system:serviceaccount:ci:builder', 'system:serviceaccount:kube-system:coredns']);
  assert.deepEqual(await users('--token-subject', 'system:serviceaccount:ci:builder'), ['system:serviceaccount:ci:builder']);
  assert.deepEqual(await users('--client', '127.0.0.11/32', '--client', '127.0.0.16'), ['system:anonymous', 'system:serviceaccount:kube-system:coredns']);
  assert.deepEqual(await users('--verb', 'watch'), ['system:serviceaccount:kube-system:coredns']);
  assert.deepEqual(await users('--resource', 'deployments', '--namespace', 'ci'), ['system:serviceaccount:ci:builder']);
  assert.deepEqual(await users('--expiring-only'), ['system:kube-controller-manager', 'system:node:worker-1', 'system:serviceaccount:kube-system:coredns']);
  // For cron: the exit code says something expires within the window.
  assert.equal((await runAnalyze(analyzeArgs(s, '--fail-on-expiry'))).code, 5);
  // The test PKI's server certificate expires in 30 days: a shorter window leaves only alice's (nothing to fail on).
  assert.equal((await runAnalyze(analyzeArgs(s, '--fail-on-expiry', '--expiring-within', '7', '--user', 'alice'))).code, 0);
  const bad = await runAnalyze(analyzeArgs(s, '--client', '10.0.0.0/99'));
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--client 10\.0\.0\.0\/99 is not an IP address or CIDR/);
});

test('expiry reference: the first capture\'s start, or --now, said in the header', async (t) => {
  const s = ready(t);
  if (!s) return;
  const later = await runAnalyze(analyzeArgs(s, '--now', '2030-01-01T00:00:00Z'));
  assert.match(later.stdout, /^Expiry measured from 2030-01-01T00:00:00\.000Z \(the time given by --now\)/m);
  assert.match(later.stdout, /^! EXPIRED \d+ days ago: kubernetes-admin /m);
  const report = await jsonReport(s);
  const first = Number((await tsharkFields(s.pcaps[0]!, { fields: ['frame.time_epoch'] }))[0]![0]) * 1000;
  assert.ok(Math.abs(Date.parse((report as unknown as { referenceTime: string }).referenceTime) - first) < 1, 'reference = first packet of the first capture');
});

test('the same capture twice is read once; a capture cut short is read up to the cut', async (t) => {
  const s = ready(t);
  if (!s) return;
  const once = await jsonReport(s);
  const copy = path.join(s.dir, 'copy.pcap');
  copyFileSync(s.pcaps[0]!, copy);
  const twice = await runAnalyze([s.pcaps[0]!, copy, s.pcaps[0]!, s.pcaps[1]!, ...s.keyLogs.flatMap((k) => ['--keylog', k]), '-o', 'json']);
  assert.equal(twice.code, 0);
  assert.equal(JSON.parse(twice.stdout).connections.length, once.connections.length);
  assert.match(twice.stderr, /copy\.pcap is the same capture as .*: read once/);

  // Cut inside the last record: the offset tshark's referee walk finds for it.
  const cut = path.join(s.dir, 'cut.pcap');
  copyFileSync(s.pcaps[1]!, cut);
  const bytes = readFileSync(cut);
  let at = 24;
  const starts: number[] = [];
  while (at + 16 <= bytes.length) {
    starts.push(at);
    at += 16 + bytes.readUInt32LE(at + 8);
  }
  const last = starts.at(-1)!;
  truncateSync(cut, last + 20);
  const run = await runAnalyze([cut, '--keylog', s.keyLogs[1]!, '-o', 'json']);
  assert.equal(run.code, 0, run.stderr);
  assert.match(run.stderr, new RegExp(`cut\\.pcap is cut short at byte offset ${last} \\(an incomplete 20-byte block\\): analysed up to there`));
  assert.ok(JSON.parse(run.stdout).requests.length > 0);
  const strict = await runAnalyze([cut, '--keylog', s.keyLogs[1]!, '--strict']);
  assert.equal(strict.code, 3);
  assert.match(strict.stderr, new RegExp(`is truncated: the record at byte offset ${last}`));
});
