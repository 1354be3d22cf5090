import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, writeFileSync } from 'node:fs';
import type { Socket } from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { cleanupOnExit, secretTempDir, testPki, type CertPair, type TestPki } from './pki.js';

const DEFAULT_TIMEOUT_MS = 30_000;

// Every child still running; killed when the test process exits, whatever happened to the test.
const liveChildren = new Set<ChildProcess>();
cleanupOnExit(() => {
  for (const child of liveChildren) child.kill('SIGKILL');
});

function track(child: ChildProcess): void {
  liveChildren.add(child);
  child.once('exit', () => liveChildren.delete(child));
  // A spawn failure (ENOENT) is reported through 'error', and 'exit' never comes.
  child.once('error', () => liveChildren.delete(child));
}

const describe = (command: string, args: string[]): string =>
  [path.basename(command), ...args].join(' ');

/** Whether `name` is an executable on $PATH. */
export function commandExists(name: string): boolean {
  return (process.env.PATH ?? '').split(path.delimiter).some((dir) => {
    try {
      accessSync(path.join(dir, name), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

/** A binary given by path or as a manifest entry (GoFixture, RealBinary). */
export type Program = string | { path: string };
export const programPath = (program: Program): string => (typeof program === 'string' ? program : program.path);

const tail = (text: string): string => text.trim().split('\n').slice(-5).join('\n');

export interface SpawnOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  timeoutMs?: number;
}

export interface SpawnResult {
  stdout: string;
  stderr: string;
}

export interface ExitedProcess extends SpawnResult {
  /** Exit code, or null when a signal ended the process. */
  code: number | null;
}

/**
 * Run a command to completion, whatever its exit code; reject only if it cannot start or outlives the
 * timeout (then it is killed).
 */
export function runProcess(command: string, args: string[], options: SpawnOptions = {}): Promise<ExitedProcess> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env: options.env, cwd: options.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    track(child);
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(new Error(`${describe(command, args)}: ${error.message}`));
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      if (timedOut) reject(new Error(`${describe(command, args)}: still running after ${timeoutMs} ms\n${tail(stderr)}`));
      else resolve({ stdout, stderr, code });
    });
  });
}

/** Run a command to completion; reject, with the end of its stderr, unless it exits 0 in time. */
export async function spawnChecked(command: string, args: string[], options: SpawnOptions = {}): Promise<SpawnResult> {
  const { stdout, stderr, code } = await runProcess(command, args, options);
  if (code !== 0) throw new Error(`${describe(command, args)}: exit ${code ?? 'by signal'}\n${tail(stderr)}`);
  return { stdout, stderr };
}

/** A long-running child process that was seen to be ready. */
export interface RunningProcess {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Send `signal`, wait for the exit (SIGKILL after the timeout); resolves to the exit code, null if killed. */
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<number | null>;
}

export interface StartOptions extends SpawnOptions {
  /** Readiness: the first match of this pattern on the given stream. */
  ready: RegExp;
  readyOn?: 'stdout' | 'stderr';
}

/**
 * Start a long-running process and wait until it prints its readiness line. If it exits first or is not
 * ready in time, it is killed and the promise rejects with the end of its stderr.
 */
export async function startProcess(
  command: string,
  args: string[],
  options: StartOptions,
): Promise<{ process: RunningProcess; match: RegExpMatchArray }> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const child = spawn(command, args, { env: options.env, cwd: options.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  track(child);
  // A server a failed test forgot to stop must not keep the test process alive (it is killed at exit).
  // Whoever waits on it holds a timer or ref()s it again, which keeps the process alive meanwhile.
  child.unref();
  (child.stdout as Socket).unref();
  (child.stderr as Socket).unref();
  const output = { stdout: '', stderr: '' };
  let exited = false;
  const exit = new Promise<number | null>((resolve) => {
    child.once('exit', (code) => {
      exited = true;
      resolve(code);
    });
    child.once('error', () => {
      exited = true;
      resolve(null);
    });
  });
  const running: RunningProcess = {
    child,
    stdout: () => output.stdout,
    stderr: () => output.stderr,
    async stop(signal = 'SIGTERM', stopTimeoutMs = 10_000) {
      child.ref(); // we wait for its exit now
      if (!exited) child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), stopTimeoutMs);
      try {
        return await exit;
      } finally {
        clearTimeout(timer);
      }
    },
  };
  const match = await new Promise<RegExpMatchArray>((resolve, reject) => {
    // Rejects only once the process is gone, so a failed start leaves nothing behind.
    const fail = (why: string): void => {
      clearTimeout(timer);
      child.ref(); // we wait for its exit now
      child.kill('SIGKILL');
      void exit.then(() => reject(new Error(`${describe(command, args)}: ${why}\n${tail(output.stderr)}`)));
    };
    const timer = setTimeout(() => fail(`not ready after ${timeoutMs} ms`), timeoutMs);
    const watch = (stream: 'stdout' | 'stderr') => (chunk: string) => {
      output[stream] += chunk;
      if (stream !== (options.readyOn ?? 'stdout')) return;
      const found = output[stream].match(options.ready);
      if (found) {
        clearTimeout(timer);
        resolve(found);
      }
    };
    child.stdout!.setEncoding('utf8').on('data', watch('stdout'));
    child.stderr!.setEncoding('utf8').on('data', watch('stderr'));
    child.once('error', (error) => fail(error.message));
    void exit.then((code) => fail(`exited (${code}) before it was ready`));
  });
  return { process: running, match };
}

export interface RunningServer extends RunningProcess {
  addr: string;
  port: number;
}

/** Start a fixture server that prints `LISTENING host:port` on stdout once it accepts connections. */
export async function startServer(command: string, args: string[], options: SpawnOptions = {}): Promise<RunningServer> {
  const { process: server, match } = await startProcess(command, args, { ...options, ready: /^LISTENING (\S+):(\d+)$/m });
  return { ...server, addr: `${match[1]}:${match[2]}`, port: Number(match[2]) };
}

export { freePort } from '../../src/demo/kubeControlPlane.js';

export interface Capture {
  file: string;
  /** Let the last packets arrive, stop tcpdump with SIGINT and wait until the file is flushed (idempotent). */
  stop(): Promise<void>;
}

/** Capture TCP traffic to/from `port` on loopback with tcpdump (root), returning once it really listens. */
export async function startCapture(options: { port: number; file: string; iface?: string }): Promise<Capture> {
  // --immediate-mode: otherwise packets wait in the kernel's ring block and are lost when tcpdump is stopped.
  // -B: with immediate mode the default kernel ring holds only a few frames and drops segments under load.
  const args = ['-i', options.iface ?? 'lo', '-U', '--immediate-mode', '-B', '65536', '-n', '-Z', 'root', '-w', options.file, `tcp port ${options.port}`];
  const { process: tcpdump } = await startProcess('tcpdump', args, { ready: /listening on/, readyOn: 'stderr' });
  const stop = async (): Promise<void> => {
    // Not a measurement: only gives the kernel a moment to hand the last segments to tcpdump.
    await sleep(300);
    const code = await tcpdump.stop('SIGINT');
    if (code !== 0) throw new Error(`tcpdump exited with ${code}: ${tail(tcpdump.stderr())}`);
  };
  let stopping: Promise<void> | undefined;
  return { file: options.file, stop: () => (stopping ??= stop()) };
}

/** An empty 0600 file, created before the program that writes a secret (key log, capture) opens it. */
export function secretFileIn(dir: string, name: string): string {
  const file = path.join(dir, name);
  writeFileSync(file, '', { mode: 0o600 });
  return file;
}

export type TlsVersion = '1.2' | '1.3';
export type CipherName = 'aes128gcm' | 'aes256gcm' | 'chacha20';

export interface CurlOptions {
  /** Full URLs; curl reuses one connection for all of them. */
  urls: string[];
  pki: TestPki;
  /** Written by curl's TLS library through SSLKEYLOGFILE: truth independent of Go. */
  keyLog: string;
  clientCert?: CertPair;
  tls?: TlsVersion;
  /** TLS 1.3 suite names (`--tls13-ciphers`), e.g. TLS_CHACHA20_POLY1305_SHA256. */
  tls13Ciphers?: string;
  /** TLS 1.2 suite names (`--ciphers`), e.g. ECDHE-ECDSA-CHACHA20-POLY1305. */
  ciphers?: string;
  h1?: boolean;
  userAgent?: string;
  /** Extra request headers, e.g. `Authorization: Bearer …`. */
  headers?: string[];
  /** `user:password` for Basic auth (curl -u). */
  basicAuth?: string;
  /** Connect from this local address (curl --interface), e.g. 127.0.0.11: tells clients apart on loopback. */
  sourceAddress?: string;
  /** Exit codes other than 0 are expected (a server that refuses the client's certificate). */
  allowFailure?: boolean;
  timeoutMs?: number;
}

/** curl's `-w` line rewritten as tlsclient prints it: `200 HTTP/2 https://host:port/p 2` → `200 HTTP/2.0 /p 2`. */
function asTlsclientLine(line: string): string {
  const m = /^(\d+) HTTP\/(\S+) https:\/\/[^/]+(\S*) (\d+)$/.exec(line);
  if (!m) throw new Error(`unexpected curl output line: ${line}`);
  const [, status, version, requestPath, bytes] = m;
  return `${status} HTTP/${version === '2' ? '2.0' : version} ${requestPath || '/'} ${bytes}`;
}

/** Run curl once; its output has one `STATUS PROTO PATH BYTES` line per URL, as tlsclient prints them. */
export async function runCurl(options: CurlOptions): Promise<string> {
  const args = ['-sS', '--cacert', options.pki.caCert];
  if (options.clientCert) args.push('--cert', options.clientCert.cert, '--key', options.clientCert.key);
  if (options.tls === '1.2') args.push('--tlsv1.2', '--tls-max', '1.2');
  else args.push('--tlsv1.3');
  if (options.tls13Ciphers) args.push('--tls13-ciphers', options.tls13Ciphers);
  if (options.ciphers) args.push('--ciphers', options.ciphers);
  args.push(options.h1 ? '--http1.1' : '--http2');
  if (options.userAgent) args.push('-A', options.userAgent);
  for (const h of options.headers ?? []) args.push('-H', h);
  if (options.basicAuth) args.push('-u', options.basicAuth);
  if (options.sourceAddress) args.push('--interface', options.sourceAddress);
  args.push('-w', '%{http_code} HTTP/%{http_version} %{url_effective} %{size_download}\\n');
  for (const url of options.urls) args.push('-o', '/dev/null', url);
  const env = { ...process.env, SSLKEYLOGFILE: options.keyLog };
  const { stdout } = options.allowFailure
    ? await runProcess('curl', args, { env, timeoutMs: options.timeoutMs })
    : await spawnChecked('curl', args, { env, timeoutMs: options.timeoutMs });
  return stdout.split('\n').filter((line) => line && !line.startsWith('000 ')).map((line) => asTlsclientLine(line) + '\n').join('');
}

/** curl's suite names for a tlsclient `-cipher` name (TLS 1.2: the signature algorithm follows the key type). */
function curlCiphers(cipher: CipherName, tls: TlsVersion, pki: TestPki): Pick<CurlOptions, 'ciphers' | 'tls13Ciphers'> {
  if (tls === '1.3') {
    const names = { aes128gcm: 'TLS_AES_128_GCM_SHA256', aes256gcm: 'TLS_AES_256_GCM_SHA384', chacha20: 'TLS_CHACHA20_POLY1305_SHA256' };
    return { tls13Ciphers: names[cipher] };
  }
  const sig = pki.keyType === 'ecdsa' ? 'ECDSA' : 'RSA';
  const names = { aes128gcm: 'AES128-GCM-SHA256', aes256gcm: 'AES256-GCM-SHA384', chacha20: 'CHACHA20-POLY1305' };
  return { ciphers: `ECDHE-${sig}-${names[cipher]}` };
}


export interface TrafficOptions {
  /** A tlsserver fixture. */
  server: Program;
  /** A tlsclient fixture, or curl (SSLKEYLOGFILE is then the client's key log). */
  client: Program | 'curl';
  /** Default: the ECDSA test PKI. */
  pki?: TestPki;
  /** Highest TLS version for both ends (default 1.3). */
  tls?: TlsVersion;
  /** Pin the suite; for tlsclient this means TLS 1.2 (Go cannot pin TLS 1.3 suites), curl honours `tls`. */
  cipher?: CipherName;
  requests?: number;
  conns?: number;
  /** The server requires client certificates; true = the PKI's system:node:test-node certificate. */
  clientCert?: boolean | CertPair;
  h1?: boolean;
  /** Request paths, cycled (default /healthz). */
  paths?: string[];
  method?: string;
  userAgent?: string;
  /** Record the traffic with tcpdump on lo (needs root). */
  capture?: boolean;
  timeoutMs?: number;
}

export interface TrafficResult {
  /** Directory (0700, removed at exit) holding the files below. */
  dir: string;
  /** pcap file, when `capture` was asked. */
  pcap?: string;
  /** Path of the key log the server's own Config.KeyLogWriter wrote. */
  serverKeyLog: string;
  /** Path of the client's key log (tlsclient's -keylog, or curl's SSLKEYLOGFILE). */
  clientKeyLog: string;
  port: number;
  /** The client's stdout: one `STATUS PROTO PATH BYTES` line per response. */
  clientOutput: string;
}

function tlsclientArgs(options: TrafficOptions, pki: TestPki, port: number, keyLog: string, cert?: CertPair): string[] {
  const args = ['-url', `https://127.0.0.1:${port}/`, '-ca', pki.caCert, '-keylog', keyLog];
  args.push('-n', String(options.requests ?? 1), '-conns', String(options.conns ?? 1));
  if (cert) args.push('-cert', cert.cert, '-key', cert.key);
  if (options.tls) args.push('-max-version', options.tls);
  if (options.cipher) args.push('-cipher', options.cipher);
  if (options.h1) args.push('-h1');
  if (options.method) args.push('-method', options.method);
  if (options.userAgent) args.push('-ua', options.userAgent);
  for (const p of options.paths ?? ['/healthz']) args.push('-path', p);
  return args;
}

/** curl makes one connection per run: split the requests over `conns` runs. */
async function curlTraffic(options: TrafficOptions, pki: TestPki, port: number, keyLog: string, cert?: CertPair): Promise<string> {
  const requests = options.requests ?? 1;
  const conns = Math.min(options.conns ?? 1, requests);
  const paths = options.paths ?? ['/healthz'];
  const tls = options.tls ?? '1.3';
  let output = '';
  for (let conn = 0; conn < conns; conn++) {
    const urls: string[] = [];
    for (let i = conn; i < requests; i += conns) urls.push(`https://127.0.0.1:${port}${paths[i % paths.length]}`);
    output += await runCurl({
      urls, pki, keyLog, clientCert: cert, tls, h1: options.h1, userAgent: options.userAgent, timeoutMs: options.timeoutMs,
      ...(options.cipher ? curlCiphers(options.cipher, tls, pki) : {}),
    });
  }
  return output;
}

export interface TlsServerSessionOptions {
  /** A tlsserver fixture. */
  server: Program;
  pki: TestPki;
  /** The server requires and verifies client certificates from the PKI's CA (Go: RequireAndVerifyClientCert). */
  clientCa?: boolean;
  tls?: TlsVersion;
  h1?: boolean;
  /** Record the traffic with tcpdump on lo (needs root). */
  capture?: boolean;
  timeoutMs?: number;
}

/** A running tlsserver with its own key log (and capture): run any clients against it, then stop it. */
export interface TlsServerSession {
  dir: string;
  port: number;
  serverKeyLog: string;
  pcap?: string;
  /** Stop the capture (flushed) and the server; idempotent. */
  stop(): Promise<void>;
}

export async function startTlsServerSession(options: TlsServerSessionOptions): Promise<TlsServerSession> {
  const { pki } = options;
  const dir = secretTempDir('traffic');
  const serverKeyLog = secretFileIn(dir, 'server.keylog');
  const serverArgs = ['-addr', '127.0.0.1:0', '-cert', pki.serverCert, '-key', pki.serverKey, '-keylog', serverKeyLog];
  if (options.clientCa) serverArgs.push('-client-ca', pki.caCert);
  if (options.tls) serverArgs.push('-max-version', options.tls);
  if (options.h1) serverArgs.push('-h1');
  const server = await startServer(programPath(options.server), serverArgs, { timeoutMs: options.timeoutMs });
  let capture: Capture | undefined;
  try {
    if (options.capture) capture = await startCapture({ port: server.port, file: secretFileIn(dir, 'traffic.pcap') });
  } catch (err) {
    await server.stop();
    throw err;
  }
  let stopping: Promise<void> | undefined;
  const stop = async (): Promise<void> => {
    try {
      await capture?.stop();
    } finally {
      await server.stop();
    }
  };
  return { dir, port: server.port, serverKeyLog, pcap: capture?.file, stop: () => (stopping ??= stop()) };
}

/** Run a tlsclient fixture against a session; its stdout (one line per response) and exit code. */
export async function runTlsclient(client: Program, session: Pick<TlsServerSession, 'port' | 'dir'>, options: Partial<TrafficOptions> & { pki: TestPki; cert?: CertPair; keyLog?: string }): Promise<ExitedProcess> {
  const keyLog = options.keyLog ?? secretFileIn(session.dir, `client-${Math.random().toString(36).slice(2)}.keylog`);
  return runProcess(programPath(client), tlsclientArgs(options as TrafficOptions, options.pki, session.port, keyLog, options.cert), { timeoutMs: options.timeoutMs });
}

/**
 * One complete exchange between a tlsserver fixture and a client, each writing its own key log, optionally
 * recorded by tcpdump. Every process is stopped before this returns or throws.
 */
export async function runTraffic(options: TrafficOptions): Promise<TrafficResult> {
  const pki = options.pki ?? (await testPki());
  const cert = options.clientCert === true ? { cert: pki.clientCert, key: pki.clientKey } : options.clientCert || undefined;
  const session = await startTlsServerSession({ server: options.server, pki, clientCa: cert !== undefined, tls: options.tls, h1: options.h1, capture: options.capture, timeoutMs: options.timeoutMs });
  const clientKeyLog = secretFileIn(session.dir, 'client.keylog');
  try {
    const clientOutput =
      options.client === 'curl'
        ? await curlTraffic(options, pki, session.port, clientKeyLog, cert)
        : (
            await spawnChecked(programPath(options.client), tlsclientArgs(options, pki, session.port, clientKeyLog, cert), {
              timeoutMs: options.timeoutMs,
            })
          ).stdout;
    await session.stop();
    return { dir: session.dir, pcap: session.pcap, serverKeyLog: session.serverKeyLog, clientKeyLog, port: session.port, clientOutput };
  } finally {
    await session.stop().catch(() => undefined);
  }
}

export interface TsharkOptions {
  /** NSS key log tshark decrypts with (absent: rely on DSBs inside a pcapng, or no decryption). */
  keyLog?: string;
  /** Decode this TCP port as TLS (tshark only guesses TLS on well-known ports). */
  tlsPort?: number;
  /** Display filter, e.g. `http2.headers.path`. */
  filter?: string;
  fields: string[];
  timeoutMs?: number;
}

/** The referee: tshark's answer as rows of the requested fields (one row per matching packet). */
export async function tsharkFields(capture: string, options: TsharkOptions): Promise<string[][]> {
  const args = ['-r', capture, '-n'];
  if (options.keyLog) args.push('-o', `tls.keylog_file:${options.keyLog}`);
  if (options.tlsPort !== undefined) args.push('-d', `tcp.port==${options.tlsPort},tls`);
  if (options.filter) args.push('-Y', options.filter);
  args.push('-T', 'fields', '-E', 'separator=/t', '-E', 'occurrence=a', '-E', 'aggregator=,');
  for (const field of options.fields) args.push('-e', field);
  const { stdout } = await spawnChecked('tshark', args, { timeoutMs: options.timeoutMs ?? 60_000 });
  return stdout.split('\n').filter((line) => line !== '').map((line) => line.split('\t'));
}

/** capinfos' report of a capture (its interfaces, packet count, decryption secrets): a referee that is not ours. */
export async function capinfos(capture: string): Promise<string> {
  return (await spawnChecked('capinfos', [capture], { timeoutMs: 60_000 })).stdout;
}

/**
 * tshark's sum of TCP payload bytes (tcp.len) per direction, keyed "SRCIP:SRCPORT>DSTIP:DSTPORT"; segments
 * tshark marks as retransmissions count once, as the stream carries them once.
 */
export async function tsharkPayloadBytes(capture: string): Promise<Map<string, number>> {
  const rows = await tsharkFields(capture, { filter: 'tcp.len > 0 && !tcp.analysis.retransmission', fields: ['ip.src', 'tcp.srcport', 'ip.dst', 'tcp.dstport', 'tcp.len'] });
  const bytes = new Map<string, number>();
  for (const [src, sport, dst, dport, len] of rows) {
    const key = `${src}:${sport}>${dst}:${dport}`;
    bytes.set(key, (bytes.get(key) ?? 0) + Number(len));
  }
  return bytes;
}
