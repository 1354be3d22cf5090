import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { once } from 'node:events';
import type { TestContext } from 'node:test';
import type { ConnRow } from '../../src/conns/index.js';
import { loadFixtures, type GoFixture } from '../support/fixtures.js';
import { requireOrSkip } from '../support/env.js';
import { secretTempDir, type TestPki } from '../support/pki.js';
import { runProcess, secretFileIn, spawnChecked, startProcess, startServer, type RunningProcess, type RunningServer } from '../support/traffic.js';
import { cliArgv } from '../support/paths.js';

/** The newest toolchain's client: any Go client will do, the server is the target. */
export function clientFixture(t: TestContext): GoFixture | undefined {
  const client = loadFixtures({ program: 'tlsclient', arch: 'amd64', mode: 'exe', stripped: false }).at(-1);
  return requireOrSkip(t, client !== undefined, 'no tlsclient fixture (run npm run setup)') ? client : undefined;
}

/** A fixture API server requiring client certificates. */
export function startApiServer(server: GoFixture, pki: TestPki): Promise<RunningServer> {
  return startServer(server.path, ['-addr', '127.0.0.1:0', '-cert', pki.serverCert, '-key', pki.serverKey, '-client-ca', pki.caCert]);
}

export interface LongLivedClient {
  process: RunningProcess;
  pid: number;
  cn: string;
  orgs: string[];
  cert: string;
  keyLog: string;
  /** Responses it printed so far (one line each). */
  responses(): number;
}

/**
 * A client that keeps ONE HTTP/2 connection and makes a request every second, with a client certificate
 * whose CN/O and lifetime the test chose; it writes its own key log (the truth). Ready after its first response.
 */
export async function startLongLivedClient(client: GoFixture, pki: TestPki, port: number, who: { cn: string; orgs: string[]; days: number; tls?: '1.2' | '1.3' }): Promise<LongLivedClient> {
  const pair = await pki.makeClientCert({ cn: who.cn, orgs: who.orgs, days: who.days });
  const keyLog = secretFileIn(secretTempDir('client'), 'client.keylog');
  const { process: p } = await startProcess(client.path, [
    '-url', `https://127.0.0.1:${port}/healthz`, '-n', '100000', '-interval', '1s', '-ca', pki.caCert,
    '-cert', pair.cert, '-key', pair.key, '-keylog', keyLog, '-max-version', who.tls ?? '1.3',
  ], { ready: /^200 HTTP\/2\.0 /m });
  return { process: p, pid: p.child.pid!, cn: who.cn, orgs: who.orgs, cert: pair.cert, keyLog, responses: () => p.stdout().split('\n').filter((l) => l.startsWith('200 ')).length };
}

/** A TCP connection to the server that never speaks TLS: established, idle. Its local address as ss prints it. */
export async function idleSocket(port: number): Promise<{ socket: net.Socket; local: string }> {
  const socket = net.connect(port, '127.0.0.1');
  await once(socket, 'connect');
  return { socket, local: `127.0.0.1:${socket.localPort}` };
}

export interface ConnsRun {
  code: number | null;
  json: { sweep: { complete: boolean }; processes: { pid: number; layout: string | null; layoutUnknown: string | null; refused: number; connections: number }[]; connections: ConnRow[] };
  stderr: string;
}

export async function runConns(args: string[]): Promise<ConnsRun> {
  const { code, stdout, stderr } = await runProcess(process.execPath, [...cliArgv(), 'conns', '--json', ...args], { timeoutMs: 120_000 });
  assert.ok(code === 0 || code === 5, `conns exited ${code}: ${stderr}`);
  return { code, json: JSON.parse(stdout) as ConnsRun['json'], stderr };
}

/** `ss -tnp` (the referee): established connections as local → peer, with the owning pid. */
export async function ssConnections(): Promise<{ local: string; peer: string; pid: number | null }[]> {
  const { stdout } = await spawnChecked('ss', ['-tnpH', 'state', 'established']);
  return stdout.split('\n').filter(Boolean).map((line) => {
    const cols = line.trim().split(/\s+/);
    // Recv-Q Send-Q Local Peer [Process]
    const pid = /pid=(\d+)/.exec(line)?.[1];
    return { local: cols[2]!, peer: cols[3]!, pid: pid === undefined ? null : Number(pid) };
  });
}

/** What openssl says of a certificate file (the referee for the identity columns). */
export async function opensslFacts(cert: string): Promise<{ sha256: string; notAfter: string }> {
  const { stdout } = await spawnChecked('openssl', ['x509', '-in', cert, '-noout', '-fingerprint', '-sha256', '-enddate']);
  const sha256 = /Fingerprint=([0-9A-F:]+)/i.exec(stdout)![1]!.toUpperCase();
  const notAfter = new Date(/notAfter=(.+)/.exec(stdout)![1]!.trim()).toISOString();
  return { sha256, notAfter };
}

/** The client's own key log: its TLS 1.3 application traffic secrets by label. */
export function trafficSecrets(keyLog: string): { client: string[]; server: string[] } {
  const lines = readFileSync(keyLog, 'utf8').split('\n').map((l) => l.split(' '));
  return {
    client: lines.filter((l) => l[0] === 'CLIENT_TRAFFIC_SECRET_0').map((l) => l[2]!),
    server: lines.filter((l) => l[0] === 'SERVER_TRAFFIC_SECRET_0').map((l) => l[2]!),
  };
}

/** The mid-stream lines of a key log file, parsed loosely for the assertions. */
export function midstreamLines(file: string): Record<string, string>[] {
  return readFileSync(file, 'utf8').split('\n').filter((l) => l.startsWith('# GOKEYLOG_MIDSTREAM ')).map((l) =>
    Object.fromEntries(l.slice('# GOKEYLOG_MIDSTREAM '.length).split(' ').map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)])));
}
