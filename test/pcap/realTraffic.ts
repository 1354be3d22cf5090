import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { finished } from 'node:stream/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { TcpFlag, decodePacket } from '../../src/net/index.js';
import { LinkType } from '../../src/net/index.js';
import { forEachPacket } from '../../src/pcap/index.js';
import { isRoot } from '../support/env.js';
import { loadFixtures, testPki } from '../support/fixtures.js';
import { secretTempDir } from '../support/pki.js';
import { spawnChecked, startProcess, startServer, tsharkFields, type RunningProcess } from '../support/traffic.js';

/** One recording of the same traffic, made by a real capture tool. */
export interface RealCapture {
  name: string;
  file: string;
  format: 'pcap' | 'pcapng';
  linkType: number;
  nano: boolean;
}

export interface RecordedTraffic {
  port: number;
  /** The Go client's own key logs (TLS 1.3 run, TLS 1.2 run). */
  keyLogs: string[];
  /** Request paths the client sent. */
  paths: string[];
  captures: RealCapture[];
}

const PATHS = ['/healthz', '/api/v1/namespaces/default/pods', '/apis/apps/v1/deployments?limit=5'];

/** Why real captures cannot be made here, or null if they can. */
export function realTrafficUnavailable(): string | null {
  if (!isRoot()) return 'capturing needs root';
  for (const tool of ['tcpdump', 'dumpcap', 'tshark', 'editcap']) {
    if (!['/usr/bin', '/usr/sbin', '/bin', '/sbin'].some((d) => existsSync(path.join(d, tool)))) return `${tool} is not installed (scripts/setup.sh)`;
  }
  if (!goPrograms()) return 'no Go tlsserver/tlsclient fixtures (scripts/setup.sh)';
  return null;
}

function goPrograms(): { server: string; client: string } | undefined {
  const server = loadFixtures({ program: 'tlsserver', arch: 'amd64', mode: 'exe', stripped: false }).at(-1);
  const client = loadFixtures({ program: 'tlsclient', arch: 'amd64', mode: 'exe', stripped: false }).at(-1);
  return server && client ? { server: server.path, client: client.path } : undefined;
}

/**
 * A Go HTTPS server and client exchange HTTP/2 requests over TLS 1.3 (two connections) and TLS 1.2 on
 * 127.0.0.1, recorded at once by tcpdump on lo (Ethernet, µs), on any (SLL2), on lo with nanosecond
 * timestamps, and by dumpcap on any as LINUX_SLL pcapng. Everything started is stopped before this returns.
 */
export async function recordTraffic(): Promise<RecordedTraffic> {
  const programs = goPrograms()!;
  const pki = await testPki();
  const dir = secretTempDir('pcap-real');
  const server = await startServer(programs.server, ['-addr', '127.0.0.1:0', '-cert', pki.serverCert, '-key', pki.serverKey]);
  const filter = `tcp port ${server.port}`;
  const captures: RealCapture[] = [
    { name: 'tcpdump -i lo', file: path.join(dir, 'lo.pcap'), format: 'pcap', linkType: LinkType.ETHERNET, nano: false },
    { name: 'tcpdump -i any', file: path.join(dir, 'any.pcap'), format: 'pcap', linkType: LinkType.LINUX_SLL2, nano: false },
    { name: 'tcpdump -i lo --time-stamp-precision=nano', file: path.join(dir, 'lo-ns.pcap'), format: 'pcap', linkType: LinkType.ETHERNET, nano: true },
    { name: 'dumpcap -i any -y LINUX_SLL', file: path.join(dir, 'any-sll.pcapng'), format: 'pcapng', linkType: LinkType.LINUX_SLL, nano: true },
  ];
  const tcpdump = (c: RealCapture, iface: string, extra: string[] = []): [string, string[]] => ['tcpdump', ['-i', iface, '-U', '--immediate-mode', '-n', '-Z', 'root', ...extra, '-w', c.file, filter]];
  // dumpcap writes to a pipe packet by packet (to a file it buffers): take its output through stdout.
  const commands: [string, string[]][] = [
    tcpdump(captures[0]!, 'lo'),
    tcpdump(captures[1]!, 'any'),
    tcpdump(captures[2]!, 'lo', ['--time-stamp-precision=nano']),
  ];
  const running: RunningProcess[] = [];
  let dumpcap: ChildProcess | undefined;
  try {
    for (const [command, args] of commands) {
      running.push((await startProcess(command, args, { ready: /listening on/, readyOn: 'stderr' })).process);
    }
    dumpcap = spawn('dumpcap', ['-q', '-i', 'any', '-y', 'LINUX_SLL', '-f', filter, '-w', '-'], { stdio: ['ignore', 'pipe', 'pipe'] });
    const dumpcapExit = new Promise<number | null>((resolve) => dumpcap!.once('close', resolve));
    const dumpcapOut = createWriteStream(captures[3]!.file, { mode: 0o600 });
    dumpcap.stdout!.pipe(dumpcapOut);
    await readyOnStderr(dumpcap, /Capturing on/);
    // A capturer says it is ready a little before it really captures: an empty connection before the traffic
    // shows when every capture is live, and one after it when every capture has caught up with the traffic
    // (a capture lags on a busy machine; packets reach it in order).
    await markTraffic(server.port, captures);
    const keyLogs = [path.join(dir, 'client13.keylog'), path.join(dir, 'client12.keylog')];
    const clientArgs = (keyLog: string, maxVersion: string, conns: number): string[] => [
      '-url', `https://127.0.0.1:${server.port}/`, '-ca', pki.caCert, '-keylog', keyLog, '-max-version', maxVersion,
      '-n', String(PATHS.length), '-conns', String(conns), ...PATHS.flatMap((p) => ['-path', p]),
    ];
    await spawnChecked(programs.client, clientArgs(keyLogs[0]!, '1.3', 2));
    await spawnChecked(programs.client, clientArgs(keyLogs[1]!, '1.2', 1));
    await markTraffic(server.port, captures);
    for (const p of running.splice(0)) {
      const code = await p.stop('SIGINT');
      if (code !== 0) throw new Error(`a capture tool exited with ${code}: ${p.stderr()}`);
    }
    dumpcap.kill('SIGINT');
    if ((await dumpcapExit) !== 0) throw new Error('dumpcap failed');
    dumpcap = undefined;
    await finished(dumpcapOut);
    return { port: server.port, keyLogs, paths: PATHS, captures };
  } finally {
    dumpcap?.kill('SIGKILL');
    for (const p of running) await p.stop('SIGKILL');
    await server.stop();
  }
}

/**
 * Opens and closes an empty TCP connection to the server until every capture holds the SYN of one of them
 * (a capturer that is not live yet misses the first): bounded, an error if a capture never sees one.
 */
async function markTraffic(port: number, captures: RealCapture[]): Promise<void> {
  const ports = new Set<number>();
  for (let round = 0; round < 60; round++) {
    const socket = net.connect(port, '127.0.0.1');
    await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
    ports.add(socket.localPort!);
    socket.destroy();
    await sleep(250);
    const seen = await Promise.all(captures.map((c) => holdsSynFrom(c.file, ports)));
    if (seen.every(Boolean)) return;
  }
  throw new Error('a capture never received the marker connections');
}

async function holdsSynFrom(file: string, ports: Set<number>): Promise<boolean> {
  let seen = false;
  try {
    await forEachPacket(file, (p) => {
      const segment = decodePacket(p.linkType, p.data);
      if (segment && ports.has(segment.src.port) && segment.flags & TcpFlag.SYN) seen = true;
    });
  } catch {
    // Nothing written yet, or a packet half written at the end of the file: look again later.
  }
  return seen;
}

function readyOnStderr(child: ChildProcess, ready: RegExp): Promise<void> {
  return new Promise((resolve, reject) => {
    let stderr = '';
    const timer = setTimeout(() => reject(new Error(`not ready after 30 s: ${stderr}`)), 30_000);
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
      if (ready.test(stderr)) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('close', (code) => reject(new Error(`exited (${code}) before it was ready: ${stderr}`)));
  });
}

/** The referee's view of the decrypted HTTP/2: frame number, header names and values of every HEADERS frame. */
export function tsharkHeaders(file: string, port: number, keyLog?: string): Promise<string[][]> {
  return tsharkFields(file, { tlsPort: port, keyLog, filter: 'http2.type == 1', fields: ['frame.number', 'http2.header.name', 'http2.header.value'] });
}

/** All key logs of the traffic in one file (0600), for tshark's and editcap's single key log option. */
export async function mergedKeyLog(traffic: RecordedTraffic, dir: string): Promise<string> {
  const merged = path.join(dir, 'merged.keylog');
  await writeFile(merged, (await Promise.all(traffic.keyLogs.map((k) => readFile(k, 'utf8')))).join(''), { mode: 0o600 });
  return merged;
}
