/// <reference lib="dom" />
// The HTML report of real captures, in headless Chromium (Debian's chromium, driven by puppeteer-core).
// The traffic is made here: Go clients with certificates that expire in 2 and 30 days and in 300 days, an
// expired one that the Go server refuses, a connection whose keys are withheld, and hostile strings (path,
// user agent, SNI with markup, quotes and control characters; the last two sent raw by openssl s_client).
// Expected values come from that setup (names, dates, what each client says it received), not from the
// report's code. Chromium is the referee for what an operator sees: no console errors, no request leaving
// the page, the expiring identity above the fold at 1100 and 1400 px, charts sized, no word broken.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { loadFixtures, testPki, type GoFixture } from '../support/fixtures.js';
import { isRoot, requireOrSkip } from '../support/env.js';
import { secretTempDir, type CertPair, type TestPki } from '../support/pki.js';
import { browserMissing, openFile, pixelsOf, pngSize, withChromium, type Page } from '../support/browser.js';
import { commandExists, runCurl, runTlsclient, runTraffic, secretFileIn, startTlsServerSession, type TrafficResult } from '../support/traffic.js';
import { runAnalyze } from '../analyze/cli.js';

const KUBELET_UA = 'kubelet/v1.31.2 (linux/amd64) kubernetes/5864a46';
const CONTROLLER_UA = 'kube-controller-manager/v1.31.2 (linux/amd64) kubernetes/5864a46/leader-election';
const HOSTILE_UA = `sched<script>alert("ua")</script>'q`;
const HOSTILE_PATH = `/api/v1/namespaces/default/pods?labelSelector=<script>alert("path")</script>&x='"`;
const HOSTILE_SNI = `<img src=x onerror=alert(1)>"'\x07`;
const HOSTILE_JTI = `c0ffee" onmouseover="alert(3)" x='`;
const RAW_UA = `raw<script>alert(2)</script>"\x1b[31m\x01`;

/** Response lines a tlsclient run printed: the requests it made that the server answered. */
const answered = (t: TrafficResult): number => t.clientOutput.split('\n').filter(Boolean).length;

/**
 * One HTTP/1.1 request sent raw through `openssl s_client` (Go's client refuses control characters in
 * headers, and SNI values that are not host names), captured like runTraffic's.
 */
async function rawHttp1Traffic(server: GoFixture, pki: TestPki, cert: CertPair, request: string, sni: string) {
  const session = await startTlsServerSession({ server, pki, clientCa: true, h1: true, capture: true });
  try {
    const client = spawn('openssl', ['s_client', '-connect', `127.0.0.1:${session.port}`, '-servername', sni, '-CAfile', pki.caCert, '-cert', cert.cert,
      '-key', cert.key, '-alpn', 'http/1.1', '-quiet'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let output = '';
    client.stdout.setEncoding('latin1').on('data', (chunk: string) => (output += chunk));
    client.stderr.resume();
    client.stdin.end(request, 'latin1');
    const timer = setTimeout(() => client.kill('SIGKILL'), 30_000);
    await once(client, 'close');
    clearTimeout(timer);
    await session.stop();
    return { pcap: session.pcap!, serverKeyLog: session.serverKeyLog, output };
  } finally {
    await session.stop();
  }
}

/** A client whose certificate the server refuses: tlsclient fails, which is the point. */
async function refusedTraffic(server: GoFixture, client: GoFixture, pki: TestPki, cert: CertPair) {
  const session = await startTlsServerSession({ server, pki, clientCa: true, capture: true });
  try {
    const run = await runTlsclient(client, session, { pki, cert });
    assert.notEqual(run.code, 0, 'the server refuses the expired certificate');
    await session.stop();
    return { pcap: session.pcap!, serverKeyLog: session.serverKeyLog };
  } finally {
    await session.stop();
  }
}

interface Scenario {
  html: string;
  page: string;
  serverKeyLogs: string[];
  /** Every secret the clients sent: none may appear in the page. */
  secrets: string[];
  counts: { kubelet: number; controller: number; scheduler: number; bound: number };
  rawStatus: string;
}

const b64url = (v: unknown): string => Buffer.from(JSON.stringify(v)).toString('base64url');

/**
 * Token clients (curl, each from its own loopback address) on a server that asks for no certificate: a
 * bound service-account token that expires in 3.5 h, a legacy one without exp, an opaque token, Basic auth.
 */
async function tokenTraffic(server: GoFixture, pki: TestPki) {
  const now = Math.floor(Date.now() / 1000);
  const bound = `${b64url({ alg: 'RS256', kid: 'k' })}.${b64url({
    aud: ['https://kubernetes.default.svc'], exp: now + 3.5 * 3600, iat: now - 60, nbf: now - 60, iss: 'https://kubernetes.default.svc',
    // The token's jti becomes its credential id, which the page also puts in an attribute (a tooltip).
    sub: 'system:serviceaccount:kube-system:coredns', jti: HOSTILE_JTI,
    'kubernetes.io': { namespace: 'kube-system', node: { name: 'worker-2', uid: 'n' }, pod: { name: 'coredns-5d78c9869d-abcde', uid: 'p' }, serviceaccount: { name: 'coredns', uid: 's' } },
  })}.${Buffer.from('never-checked-signature').toString('base64url')}`;
  const legacy = `${b64url({ alg: 'RS256' })}.${b64url({
    iss: 'kubernetes/serviceaccount', sub: 'system:serviceaccount:ci:builder', 'kubernetes.io/serviceaccount/namespace': 'ci',
    'kubernetes.io/serviceaccount/service-account.name': 'builder', 'kubernetes.io/serviceaccount/secret.name': 'builder-token-x7k2p',
  })}.${Buffer.from('legacy-signature').toString('base64url')}`;
  const opaque = 'opaque-7f3e9c2a41d86b05e1f4a9c3d2b7e680';
  const password = 'hunter2-s3cret-passw0rd';
  const session = await startTlsServerSession({ server, pki, capture: true });
  let boundAnswered = 0;
  try {
    const keyLog = secretFileIn(session.dir, 'curl.keylog');
    const url = (...paths: string[]) => paths.map((p) => `https://127.0.0.1:${session.port}${p}`);
    boundAnswered = (await runCurl({ urls: url('/api/v1/namespaces/kube-system/pods?limit=1', '/api/v1/namespaces/kube-system/pods?watch=1', '/api'), pki, keyLog,
      headers: [`Authorization: Bearer ${bound}`], userAgent: 'coredns/v1.11.1 (linux/amd64)', sourceAddress: '127.0.0.11' })).split('\n').filter(Boolean).length;
    await runCurl({ urls: url('/apis/apps/v1/namespaces/ci/deployments'), pki, keyLog, headers: [`Authorization: Bearer ${legacy}`], sourceAddress: '127.0.0.12' });
    await runCurl({ urls: url('/api/v1/namespaces/default/pods?limit=1'), pki, keyLog, headers: [`Authorization: Bearer ${opaque}`], sourceAddress: '127.0.0.13' });
    await runCurl({ urls: url('/healthz'), pki, keyLog, basicAuth: `alice:${password}`, sourceAddress: '127.0.0.14', h1: true });
    await session.stop();
  } finally {
    await session.stop();
  }
  const secrets = [bound, ...bound.split('.').slice(1), legacy, legacy.split('.')[2]!, opaque, password, Buffer.from(`alice:${password}`).toString('base64')];
  return { pcap: session.pcap!, serverKeyLog: session.serverKeyLog, secrets, boundAnswered };
}

async function makeScenario(server: GoFixture, client: GoFixture): Promise<Scenario> {
  const pki = await testPki();
  const kubelet = await pki.makeClientCert({ cn: 'system:node:worker-1', orgs: ['system:nodes'], days: 2 });
  const controller = await pki.makeClientCert({ cn: 'system:kube-controller-manager', days: 30 });
  const scheduler = await pki.makeClientCert({ cn: 'system:kube-scheduler', days: 300 });
  const expired = await pki.makeClientCert({ cn: 'system:node:worker-old', orgs: ['system:nodes'], days: -1 });
  const common = { server, client, pki, capture: true } as const;
  const runs = {
    kubelet: await runTraffic({ ...common, clientCert: kubelet, requests: 40, conns: 2, userAgent: KUBELET_UA,
      paths: ['/api/v1/namespaces/kube-system/pods?limit=5', '/api/v1/namespaces/default/pods?watch=1', '/healthz', '/api/v1/namespaces/kube-system/pods'] }),
    controller: await runTraffic({ ...common, clientCert: controller, requests: 45, conns: 3, userAgent: CONTROLLER_UA,
      paths: ['/apis/apps/v1/namespaces/default/deployments', '/api/v1/namespaces/default/pods?limit=2', '/api', '/apis'] }),
    creates: await runTraffic({ ...common, clientCert: controller, requests: 5, method: 'POST', userAgent: CONTROLLER_UA,
      paths: ['/apis/apps/v1/namespaces/default/deployments'] }),
    scheduler: await runTraffic({ ...common, clientCert: scheduler, requests: 8, conns: 1, userAgent: HOSTILE_UA, paths: ['/nowhere', HOSTILE_PATH] }),
    // Its keys are not given to analyze: a connection that cannot be decrypted.
    keyless: await runTraffic({ ...common, clientCert: scheduler, requests: 2 }),
  };
  const raw = await rawHttp1Traffic(server, pki, controller, `GET ${HOSTILE_PATH} HTTP/1.1\r\nHost: x\r\nUser-Agent: ${RAW_UA}\r\nConnection: close\r\n\r\n`, HOSTILE_SNI);
  const refused = await refusedTraffic(server, client, pki, expired);
  const tokens = await tokenTraffic(server, pki);
  const withKeys = [runs.kubelet, runs.controller, runs.creates, runs.scheduler, refused, tokens];
  const dir = secretTempDir('html-report');
  const keyLog = path.join(dir, 'all.keylog');
  const serverKeyLogs = [...withKeys.map((r) => r.serverKeyLog), raw.serverKeyLog];
  writeFileSync(keyLog, serverKeyLogs.map((f) => readFileSync(f, 'utf8')).join(''), { mode: 0o600 });
  const html = path.join(dir, 'report.html');
  const pcaps = [...withKeys.map((r) => r.pcap!), runs.keyless.pcap!, raw.pcap];
  const run = await runAnalyze([...pcaps, '--keylog', keyLog, '--expiring-within', '14', '--html', html, '--json']);
  assert.equal(run.code, 0, run.stderr);
  return {
    html,
    page: readFileSync(html, 'utf8'),
    serverKeyLogs,
    secrets: tokens.secrets,
    counts: { kubelet: answered(runs.kubelet), controller: answered(runs.controller) + answered(runs.creates), scheduler: answered(runs.scheduler), bound: tokens.boundAnswered },
    rawStatus: /^HTTP\/1\.1 (\d{3})/.exec(raw.output)?.[1] ?? '',
  };
}

/** Where screenshots go: GOKEYLOG_TEST_SCREENSHOTS to keep them (with the page), else the test's temporary directory. */
function screenshotDir(page: string): string {
  const keep = process.env.GOKEYLOG_TEST_SCREENSHOTS;
  if (!keep) return secretTempDir('screenshots');
  mkdirSync(keep, { recursive: true });
  copyFileSync(page, path.join(keep, 'report.html'));
  return keep;
}

/** Words (whitespace-separated runs inside one text node) laid out over more than one line. */
function brokenWords(page: Page): Promise<string[]> {
  return page.evaluate(() => {
    const broken: string[] = [];
    const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    for (let n = walker.nextNode() as Text | null; n; n = walker.nextNode() as Text | null) {
      const parent = n.parentElement;
      if (!parent || parent.closest('svg, script, style') || parent.getClientRects().length === 0) continue;
      for (const m of n.data.matchAll(/\S+/g)) {
        const range = document.createRange();
        range.setStart(n, m.index!);
        range.setEnd(n, m.index! + m[0].length);
        const lines = new Set([...range.getClientRects()].filter((r) => r.width > 0).map((r) => Math.round(r.top)));
        if (lines.size > 1) broken.push(m[0]);
      }
    }
    return broken;
  });
}

test('HTML report of real captures in Chromium at 1100, 1250 and 1400 px', { timeout: 600_000 }, async (t) => {
  const [server] = loadFixtures({ program: 'tlsserver', arch: 'amd64', mode: 'exe', stripped: false }).slice(-1);
  const [client] = loadFixtures({ program: 'tlsclient', arch: 'amd64', mode: 'exe', stripped: false }).slice(-1);
  if (!requireOrSkip(t, isRoot(), 'capturing with tcpdump needs root')) return;
  if (!requireOrSkip(t, ['tcpdump', 'openssl', 'curl'].every(commandExists), 'tcpdump, openssl and curl are needed')) return;
  if (!requireOrSkip(t, server !== undefined && client !== undefined, 'Go fixtures not built (npm run setup)')) return;
  const missing = browserMissing();
  if (!requireOrSkip(t, missing === null, missing ?? '')) return;
  const s = await makeScenario(server!, client!);

  await t.test('the file: self-contained, escaped, without secrets', () => {
    assert.equal(s.page.match(/<script/gi)?.length, 1, 'one script element: the page\'s own');
    // Nothing the page could load or navigate to: links are in-page anchors. (URLs the data holds, such as a
    // token's audience, are text; Chromium below sees no request and no element pointing out.)
    assert.doesNotMatch(s.page, /<(link|img|iframe|object|embed|base|form)\b|\s(src|href|action|srcset|xlink:href)\s*=\s*"(?!#)|url\(|@import/i, 'no external resource or link');
    assert.doesNotMatch(s.page, /<script>alert|<img src=x|[\x00-\x08\x0b\x0c\x0e-\x1f]/);
    assert.ok(s.page.includes('sched&lt;script&gt;alert(&quot;ua&quot;)&lt;'), 'hostile user agent escaped');
    assert.ok(s.page.includes('\\x1b[31m\\x01'), 'control characters shown as \\xNN');
    for (const file of s.serverKeyLogs) {
      for (const line of readFileSync(file, 'utf8').split('\n').filter((l) => l && !l.startsWith('#'))) {
        assert.ok(!s.page.includes(line.split(' ')[2]!), 'no TLS secret in the page');
      }
    }
    for (const secret of s.secrets) assert.ok(!s.page.includes(secret), `no token or password text in the page (${secret.slice(0, 6)}…)`);
  });

  const shots = screenshotDir(s.html);
  await withChromium(async (browser) => {
    for (const width of [1100, 1250, 1400]) {
      await t.test(`${width} px wide`, async () => {
        const height = 800;
        const { page, problems, requests } = await openFile(browser, s.html, width, height);
        const above = await page.screenshot({ path: path.join(shots, `report-${width}.png`) });
        await page.screenshot({ path: path.join(shots, `report-${width}-full.png`), fullPage: true });
        assert.deepEqual(pngSize(above), { width, height });

        const facts = await page.evaluate(() => {
          const box = (e: Element | null) => (e ? e.getBoundingClientRect().toJSON() as DOMRect : null);
          const attention = [...document.querySelectorAll('ol.attention > li')];
          const worker = attention.find((li) => li.textContent!.includes('system:node:worker-1'));
          const timeline = document.querySelector('svg.timeline');
          return {
            attention: attention.map((li) => [li.className, li.querySelector('strong')!.textContent, [...li.querySelectorAll('.badge')].map((b) => b.textContent)]),
            worker: box(worker ?? null),
            // Where the answers' first badges are drawn: a point inside each, left of its text.
            badgeSpots: attention.map((li) => {
              const r = li.querySelector('.badge')!.getBoundingClientRect();
              return { x: Math.round(r.left + 2), y: Math.round(r.top + r.height / 2) };
            }),
            workerVisible: worker ? document.elementFromPoint(worker.getBoundingClientRect().left + 20, worker.getBoundingClientRect().top + 10)?.closest('li') === worker : false,
            timeline: box(timeline),
            // Names: from the tooltips ("NAME: expires in 47 h (…)"); long ones are cut on the chart.
            timelineRows: [...document.querySelectorAll('svg.timeline .row')].map((r) => [r.classList[1], r.querySelector('title')!.textContent,
              getComputedStyle(r.querySelector('.mark')!).fill]),
            lanes: box(document.querySelector('svg.lanes')),
            laneNames: [...document.querySelectorAll('svg.lanes .lane > title')].map((n) => n.textContent!.replace(/: \d+ requests?$/, '')),
            heat: box(document.querySelector('svg.heat')),
            body: document.body.clientWidth,
            scrollWidth: document.documentElement.scrollWidth,
            scripts: document.scripts.length,
            handlers: [...document.querySelectorAll('*')].flatMap((e) => [...e.attributes].map((a) => a.name)).filter((n) => n.startsWith('on')),
            resources: [...document.querySelectorAll('[src], [href]:not([href^="#"]), link, img, iframe, object, embed, base')].map((e) => e.outerHTML),
            identities: [...document.querySelectorAll<HTMLTableRowElement>('#identities tbody tr')].map((tr) => [tr.className, tr.cells[1]!.querySelector('strong')!.textContent,
              tr.cells[4]!.querySelector('.line')!.textContent, tr.cells[3]!.querySelector('.line')!.textContent, tr.cells[2]!.textContent]),
            statusColours: Object.fromEntries([...document.querySelectorAll('#requests .status')].map((e) => [e.textContent, getComputedStyle(e).color])),
            sni: [...document.querySelectorAll<HTMLTableRowElement>('#connections tbody tr')].map((tr) => tr.cells[3]!.textContent),
            connectionIdentities: [...document.querySelectorAll<HTMLTableRowElement>('#connections tbody tr')].map((tr) => [tr.cells[2]!.textContent!.split(':')[0], tr.cells[5]!.textContent]),
            userAgents: [...document.querySelectorAll<HTMLTableRowElement>('#requests tbody tr')].map((tr) => tr.cells[6]!.textContent),
            problems: [...document.querySelectorAll('ul.problems h3')].map((h) => h.textContent),
            credentialTitles: [...document.querySelectorAll('code.credid')].map((c) => c.getAttribute('title')),
          };
        });
        assert.deepEqual(problems, [], 'no console errors');
        assert.deepEqual(requests, [], 'no request leaves the page');
        assert.equal(facts.scripts, 1);
        assert.deepEqual(facts.handlers, [], 'no event handler attribute came in with the data');
        assert.deepEqual(facts.resources, [], 'nothing that loads or links outside the page');

        // The answer first, most urgent first: the expired certificate the server refused, the token that
        // expires in 3 h, the certificate that expires in 47 h, the legacy token that never expires.
        assert.deepEqual(facts.attention.map(([state, name]) => [state, name]), [
          ['rejected', 'system:node:worker-old'], ['expiring', 'system:serviceaccount:kube-system:coredns'],
          ['expiring', 'system:node:worker-1'], ['legacy', 'system:serviceaccount:ci:builder'],
        ]);
        const badges = facts.attention.map(([, , b]) => b as string[]);
        assert.equal(badges[0]!.length, 2);
        assert.match(badges[0]![0]!, /^rejected: [a-z_]+$/);
        assert.deepEqual([badges[0]![1], badges[1], badges[2], badges[3]], ['expired 24 h ago', ['expires in 3 h'], ['expires in 47 h'], ['legacy: never expires']]);
        assert.ok(facts.worker && facts.worker.bottom <= height && facts.workerVisible, `worker-1 visible above the fold: ${JSON.stringify(facts.worker)}`);
        assert.ok(facts.timeline && facts.timeline.top < height, 'the timeline starts above the fold');
        // The screenshot itself shows them: the refused certificate's badge violet, the expiring ones amber.
        const near = (rgb: number[], want: number[]) => rgb.every((v, i) => Math.abs(v - want[i]!) <= 12);
        const colours = await pixelsOf(browser, above, facts.badgeSpots);
        assert.ok(near(colours[0]!, [0x6b, 0x2f, 0xa3]) && near(colours[1]!, [0xe8, 0xa2, 0x00]) && near(colours[2]!, [0xe8, 0xa2, 0x00]) && near(colours[3]!, [0x7a, 0x4b, 0x12]),
          `badge colours in the ${width} px screenshot: ${JSON.stringify(colours)}`);

        // Charts: a full-width timeline with a row per credential and the server's certificate, coloured by state.
        assert.ok(facts.timeline!.width >= facts.body - 60, `timeline ${facts.timeline!.width} of ${facts.body} px`);
        const row = (name: string) => facts.timelineRows.find(([, title]) => title!.startsWith(`${name}: `));
        const names = ['system:node:worker-old', 'system:serviceaccount:kube-system:coredns', 'system:node:worker-1', 'system:kube-controller-manager',
          'system:kube-scheduler', 'system:serviceaccount:ci:builder', 'bearer token (opaque)', 'alice', 'server localhost'];
        assert.deepEqual(names.filter((n) => !row(n)), [], facts.timelineRows.map((r) => r[1]).join('; '));
        assert.equal(facts.timelineRows.length, names.length);
        assert.ok(facts.timeline!.height >= names.length * 20);
        assert.deepEqual(['system:node:worker-old', 'system:node:worker-1', 'system:kube-controller-manager', 'system:serviceaccount:ci:builder'].map((n) => row(n)![0]),
          ['rejected', 'expiring', 'valid', 'legacy']);
        const fills = new Set(['system:node:worker-old', 'system:node:worker-1', 'system:kube-controller-manager'].map((n) => row(n)![2]));
        assert.equal(fills.size, 3, 'rejected, expiring and valid marks differ in colour');
        assert.ok(facts.lanes!.width > 400 && facts.lanes!.height > 60, `lanes ${JSON.stringify(facts.lanes)}`);
        // The refused client may get its request out before the server's alert arrives (TLS 1.3), or not.
        const refusedRequests = facts.identities[0]![2] === '1 request' ? ['system:node:worker-old'] : [];
        assert.deepEqual([...facts.laneNames].sort(), ['system:kube-controller-manager', 'system:kube-scheduler', 'system:node:worker-1', ...refusedRequests,
          'system:serviceaccount:kube-system:coredns', 'system:serviceaccount:ci:builder', 'bearer token (opaque)', 'alice'].sort());
        assert.ok(facts.heat!.width > 250 && facts.heat!.height > 80, `heat map ${JSON.stringify(facts.heat)}`);
        assert.ok(facts.scrollWidth <= width, `no horizontal scrolling (${facts.scrollWidth} px)`);
        assert.deepEqual(await brokenWords(page), [], 'no word broken across lines');

        // Identities sorted by time left, with the requests each client says the server answered, from where.
        const identity = (name: string) => facts.identities.find(([, user]) => user === name)!;
        assert.deepEqual(facts.identities.map(([, user]) => user).slice(0, 5), ['system:node:worker-old', 'system:serviceaccount:kube-system:coredns',
          'system:node:worker-1', 'system:kube-controller-manager', 'system:kube-scheduler']);
        assert.deepEqual(identity('system:node:worker-old').slice(0, 4), ['rejected', 'system:node:worker-old', refusedRequests.length ? '1 request' : 'no requests', '127.0.0.1']);
        assert.deepEqual(identity('system:node:worker-1').slice(0, 4), ['expiring', 'system:node:worker-1', `${s.counts.kubelet} requests`, '127.0.0.1']);
        assert.deepEqual(identity('system:kube-controller-manager').slice(0, 4), ['valid', 'system:kube-controller-manager', `${s.counts.controller + 1} requests`, '127.0.0.1']);
        assert.deepEqual(identity('system:kube-scheduler').slice(0, 4), ['valid', 'system:kube-scheduler', `${s.counts.scheduler} requests`, '127.0.0.1']);
        const coredns = identity('system:serviceaccount:kube-system:coredns');
        assert.deepEqual(coredns.slice(0, 4), ['expiring', 'system:serviceaccount:kube-system:coredns', `${s.counts.bound} requests`, '127.0.0.11']);
        assert.ok(coredns[4]!.includes(`JTI=${HOSTILE_JTI}`), coredns[4]!);
        assert.match(coredns[4]!, /^service-account token.*pod coredns-5d78c9869d-abcde.*node worker-2$/);
        assert.equal(facts.credentialTitles.filter((t) => t === `JTI=${HOSTILE_JTI}`).length, 2, 'the jti as a whole attribute value, in the answer and the table');
        assert.deepEqual(facts.connectionIdentities.filter(([ip]) => ip === '127.0.0.11'), [['127.0.0.11', 'system:serviceaccount:kube-system:coredns']],
          'a token client\'s connection names the identity of its requests');
        assert.deepEqual(identity('system:serviceaccount:ci:builder').slice(0, 4), ['legacy', 'system:serviceaccount:ci:builder', '1 request', '127.0.0.12']);
        assert.deepEqual(identity('bearer token (opaque)').slice(2, 4), ['1 request', '127.0.0.13']);
        assert.deepEqual(identity('alice').slice(2, 4), ['1 request', '127.0.0.14']);
        assert.ok(facts.sni.includes(HOSTILE_SNI.replace('\x07', '\\x07')), `the hostile SNI reads as text: ${facts.sni.join(' | ')}`);
        assert.ok(facts.userAgents.includes(HOSTILE_UA) && facts.userAgents.includes(RAW_UA.replace('\x1b', '\\x1b').replace('\x01', '\\x01')));
        assert.equal(s.rawStatus, '400', 'Go refuses the raw request, which is still reported');
        assert.equal(facts.statusColours['200'], 'rgb(30, 107, 58)');
        assert.equal(facts.statusColours['404'], 'rgb(138, 90, 0)');
        assert.ok(facts.problems.some((p) => p.includes('no keys for client random')), facts.problems.join('; '));
        assert.ok(facts.problems.some((p) => /refused by the server: [a-z_]+/.test(p)), facts.problems.join('; '));

        // Sorting, filtering, and the link from an identity to its requests.
        const column = (table: string, i: number) => page.$$eval(`#${table} tbody tr:not([hidden])`, (trs, i) => trs.map((tr) => (tr as HTMLTableRowElement).cells[i]!.textContent!), i);
        await page.click('#identities th:nth-child(5) button');
        const ascending = (await column('identities', 4)).map((text) => parseInt(text, 10) || 0);
        assert.deepEqual(ascending, [...ascending].sort((a, b) => a - b));
        await page.click('#identities th:nth-child(5) button');
        const descending = (await column('identities', 4)).map((text) => parseInt(text, 10) || 0);
        assert.deepEqual(descending, [...ascending].sort((a, b) => b - a));
        await page.type('input[data-filter="requests"]', 'worker-1');
        assert.equal((await column('requests', 2)).length, s.counts.kubelet);
        await page.$eval('input[data-filter="requests"]', (e) => ((e as HTMLInputElement).value = ''));
        const term = await page.evaluate(() => [...document.querySelectorAll('#identities tbody tr')]
          .find((tr) => tr.textContent!.includes('system:kube-scheduler'))!.querySelector('a[data-show]')!.getAttribute('data-term'));
        await page.click(`#identities a[data-show][data-term="${term}"]`);
        assert.deepEqual(new Set(await column('requests', 2)), new Set(['system:kube-scheduler']));
        assert.equal((await column('requests', 2)).length, s.counts.scheduler);
        assert.deepEqual(problems, [], 'no console errors after interaction');
        await page.close();
      });
    }
  });
});
