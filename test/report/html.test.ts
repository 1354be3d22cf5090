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
import type { Page } from 'puppeteer-core';
import { loadFixtures, testPki, type GoFixture } from '../support/fixtures.js';
import { isRoot, requireOrSkip } from '../support/env.js';
import { secretTempDir, type CertPair, type TestPki } from '../support/pki.js';
import { chromiumInstalled, openFile, pngSize, withChromium } from '../support/browser.js';
import { commandExists, runTlsclient, runTraffic, startTlsServerSession, type TrafficResult } from '../support/traffic.js';
import { runAnalyze } from '../analyze/cli.js';

const KUBELET_UA = 'kubelet/v1.31.2 (linux/amd64) kubernetes/5864a46';
const CONTROLLER_UA = 'kube-controller-manager/v1.31.2 (linux/amd64) kubernetes/5864a46/leader-election';
const HOSTILE_UA = `sched<script>alert("ua")</script>'q`;
const HOSTILE_PATH = `/api/v1/namespaces/default/pods?labelSelector=<script>alert("path")</script>&x='"`;
const HOSTILE_SNI = `<img src=x onerror=alert(1)>"'`;
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
  counts: { kubelet: number; controller: number; scheduler: number };
  rawStatus: string;
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
  const withKeys = [runs.kubelet, runs.controller, runs.creates, runs.scheduler, refused];
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
    counts: { kubelet: answered(runs.kubelet), controller: answered(runs.controller) + answered(runs.creates), scheduler: answered(runs.scheduler) },
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

test('HTML report of real captures in Chromium at 1100 and 1400 px', { timeout: 600_000 }, async (t) => {
  const [server] = loadFixtures({ program: 'tlsserver', arch: 'amd64', mode: 'exe', stripped: false }).slice(-1);
  const [client] = loadFixtures({ program: 'tlsclient', arch: 'amd64', mode: 'exe', stripped: false }).slice(-1);
  if (!requireOrSkip(t, isRoot(), 'capturing with tcpdump needs root')) return;
  if (!requireOrSkip(t, commandExists('tcpdump') && commandExists('openssl'), 'tcpdump and openssl are needed')) return;
  if (!requireOrSkip(t, server !== undefined && client !== undefined, 'Go fixtures not built (npm run setup)')) return;
  if (!requireOrSkip(t, chromiumInstalled(), "Debian's chromium is not installed (scripts/setup.sh --tests)")) return;
  const s = await makeScenario(server!, client!);

  await t.test('the file: self-contained, escaped, without secrets', () => {
    assert.equal(s.page.match(/<script/gi)?.length, 1, 'one script element: the page\'s own');
    assert.doesNotMatch(s.page, /<(link|img|iframe|object|embed|base)\b|url\(|@import|https?:|\/\/[\w.-]+\//i, 'no external resource or URL');
    assert.doesNotMatch(s.page, /<script>alert|<img src=x|[\x00-\x08\x0b\x0c\x0e-\x1f]/);
    assert.ok(s.page.includes('sched&lt;script&gt;alert(&quot;ua&quot;)&lt;'), 'hostile user agent escaped');
    assert.ok(s.page.includes('\\x1b[31m\\x01'), 'control characters shown as \\xNN');
    for (const file of s.serverKeyLogs) {
      for (const line of readFileSync(file, 'utf8').split('\n').filter((l) => l && !l.startsWith('#'))) {
        assert.ok(!s.page.includes(line.split(' ')[2]!), 'no TLS secret in the page');
      }
    }
  });

  const shots = screenshotDir(s.html);
  await withChromium(async (browser) => {
    for (const width of [1100, 1400]) {
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
            workerVisible: worker ? document.elementFromPoint(worker.getBoundingClientRect().left + 20, worker.getBoundingClientRect().top + 10)?.closest('li') === worker : false,
            timeline: box(timeline),
            timelineRows: [...document.querySelectorAll('svg.timeline .row')].map((r) => [r.classList[1], r.querySelector('.name')!.textContent,
              getComputedStyle(r.querySelector('.mark')!).fill]),
            lanes: box(document.querySelector('svg.lanes')),
            laneNames: [...document.querySelectorAll('svg.lanes .lane .name')].map((n) => n.textContent),
            heat: box(document.querySelector('svg.heat')),
            body: document.body.clientWidth,
            scrollWidth: document.documentElement.scrollWidth,
            scripts: document.scripts.length,
            handlers: [...document.querySelectorAll('*')].flatMap((e) => [...e.attributes].map((a) => a.name)).filter((n) => n.startsWith('on')),
            resources: [...document.querySelectorAll('[src], [href]:not([href^="#"]), link, img, iframe, object, embed, base')].map((e) => e.outerHTML),
            identities: [...document.querySelectorAll<HTMLTableRowElement>('#identities tbody tr')].map((tr) => [tr.className, tr.cells[1]!.querySelector('strong')!.textContent,
              tr.cells[4]!.querySelector('.line')!.textContent, tr.cells[3]!.querySelector('.line')!.textContent]),
            statusColours: Object.fromEntries([...document.querySelectorAll('#requests .status')].map((e) => [e.textContent, getComputedStyle(e).color])),
            sni: [...document.querySelectorAll<HTMLTableRowElement>('#connections tbody tr')].map((tr) => tr.cells[3]!.textContent),
            userAgents: [...document.querySelectorAll<HTMLTableRowElement>('#requests tbody tr')].map((tr) => tr.cells[6]!.textContent),
            problems: [...document.querySelectorAll('ul.problems h3')].map((h) => h.textContent),
          };
        });
        assert.deepEqual(problems, [], 'no console errors');
        assert.deepEqual(requests, [], 'no request leaves the page');
        assert.equal(facts.scripts, 1);
        assert.deepEqual(facts.handlers, [], 'no event handler attribute came in with the data');
        assert.deepEqual(facts.resources, [], 'nothing that loads or links outside the page');

        // The answer first: the expired certificate the server refused, then the one that expires in 47 h.
        assert.equal(facts.attention.length, 2, JSON.stringify(facts.attention));
        const [refused, expiring] = facts.attention as [string, string, string[]][];
        assert.deepEqual([refused![0], refused![1], refused![2].length], ['rejected', 'system:node:worker-old', 2]);
        assert.match(refused![2][0]!, /^rejected: [a-z_]+$/);
        assert.equal(refused![2][1], 'expired 24 h ago');
        assert.deepEqual(expiring, ['expiring', 'system:node:worker-1', ['expires in 47 h']]);
        assert.ok(facts.worker && facts.worker.bottom <= height && facts.workerVisible, `worker-1 visible above the fold: ${JSON.stringify(facts.worker)}`);
        assert.ok(facts.timeline && facts.timeline.top < height, 'the timeline starts above the fold');

        // Charts: full-width timeline with one row per certificate (4 clients, the server), coloured by state.
        assert.ok(facts.timeline!.width >= facts.body - 60, `timeline ${facts.timeline!.width} of ${facts.body} px`);
        assert.ok(facts.timeline!.height >= 5 * 20);
        const rows = Object.fromEntries(facts.timelineRows.map(([state, name, fill]) => [name, [state, fill]]));
        assert.deepEqual(Object.keys(rows).sort(), ['server localhost', 'system:kube-controller-manager', 'system:kube-scheduler', 'system:node:worker-1', 'system:node:worker-old'].sort());
        assert.deepEqual([rows['system:node:worker-old']![0], rows['system:node:worker-1']![0], rows['system:kube-controller-manager']![0]], ['rejected', 'expiring', 'valid']);
        const fills = new Set([rows['system:node:worker-old']![1], rows['system:node:worker-1']![1], rows['system:kube-controller-manager']![1]]);
        assert.equal(fills.size, 3, 'rejected, expiring and valid marks differ in colour');
        assert.ok(facts.lanes!.width > 400 && facts.lanes!.height > 60, `lanes ${JSON.stringify(facts.lanes)}`);
        // The refused client may get its request out before the server's alert arrives (TLS 1.3), or not.
        const refusedRequests = facts.identities[0]![2] === '1 request' ? ['system:node:worker-old'] : [];
        assert.deepEqual([...facts.laneNames].sort(), ['system:kube-controller-manager', 'system:kube-scheduler', 'system:node:worker-1', ...refusedRequests].sort());
        assert.ok(facts.heat!.width > 250 && facts.heat!.height > 80, `heat map ${JSON.stringify(facts.heat)}`);
        assert.ok(facts.scrollWidth <= width, `no horizontal scrolling (${facts.scrollWidth} px)`);
        assert.deepEqual(await brokenWords(page), [], 'no word broken across lines');

        // Identities sorted by time left, with the requests each client says the server answered.
        assert.deepEqual(facts.identities, [
          ['rejected', 'system:node:worker-old', refusedRequests.length ? '1 request' : 'no requests', '127.0.0.1'],
          ['expiring', 'system:node:worker-1', `${s.counts.kubelet} requests`, '127.0.0.1'],
          ['valid', 'system:kube-controller-manager', `${s.counts.controller + 1} requests`, '127.0.0.1'],
          ['valid', 'system:kube-scheduler', `${s.counts.scheduler} requests`, '127.0.0.1'],
        ]);
        assert.ok(facts.sni.includes(HOSTILE_SNI), 'the hostile SNI reads as text');
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
        const link = await page.evaluateHandle(() => [...document.querySelectorAll<HTMLTableRowElement>('#identities tbody tr')]
          .find((tr) => tr.textContent!.includes('system:kube-scheduler'))!.querySelector('a[data-show]'));
        await (link as unknown as import('puppeteer-core').ElementHandle<Element>).click();
        assert.deepEqual(new Set(await column('requests', 2)), new Set(['system:kube-scheduler']));
        assert.equal((await column('requests', 2)).length, s.counts.scheduler);
        assert.deepEqual(problems, [], 'no console errors after interaction');
        await page.close();
      });
    }
  });
});
