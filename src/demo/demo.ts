import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { errnoReason, GokeylogError } from '../util/errors.js';
import { demoPrograms } from './fixtures.js';
import { createPki, type CertPair, type Pki } from './pki.js';

/** How a demo stops: the CLI owns the signals and the exit. */
export interface DemoStop {
  /** The CLI's stop signal (SIGINT/SIGTERM/SIGHUP), installed before the demo makes anything. */
  signal: AbortSignal;
  /** The children are stopped and the folder of private keys is removed after the signal: the run is over. */
  onStopped(): void;
}

export interface DemoOptions extends DemoStop {
  /** Keep the capture, key log and certificates: in this directory if it does not exist, else in a new one inside it. */
  keep?: string;
  out: NodeJS.WritableStream;
}

/** Prints one line of the demo's story (the demo writes to `out`, which the CLI gives it: stdout). */
export type Say = (text: string) => void;

export const sayTo = (out: NodeJS.WritableStream): Say => (text) => void out.write(`${text}\n`);

/** How long any one step may take before the demo gives up (a hung child must not hang the demo). */
const STEP_TIMEOUT_MS = 60_000;

/**
 * The whole product on a built-in scenario: a stripped Go HTTPS server with mutual TLS 1.3 (our stand-in for
 * kube-apiserver) is located, hooked and captured while two clients call it — a node whose client certificate
 * expires in two days and a controller — then the capture is analysed. Each step runs the real CLI command
 * and prints it first, so the demo also shows how to use gokeylog.
 */
export async function runDemo(opts: DemoOptions): Promise<void> {
  requireRoot();
  const programs = demoPrograms();
  const say = sayTo(opts.out);
  const children: ChildProcess[] = [];
  await inDemoDir(opts.keep, children, opts, async (dir) => {
    say(`gokeylog demo: a stripped Go server (${programs.goVersion}) with mutual TLS 1.3, no key log of its own.\n`);
    const pki = await createPki(dir);
    const node = await pki.makeClientCert({ cn: 'system:node:worker-1', orgs: ['system:nodes'], days: 2 });
    const controller = await pki.makeClientCert({ cn: 'system:kube-controller-manager', days: 365 });

    const server = spawn(programs.server, ['-addr', '127.0.0.1:0', '-cert', pki.serverCert, '-key', pki.serverKey, '-client-ca', pki.caCert], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    children.push(server);
    const address = await firstLine(server, /^LISTENING (\S+)$/, 'the demo server');
    const port = address.slice(address.lastIndexOf(':') + 1);
    say(`server pid ${server.pid} listening on ${address}: ${programs.server}\n`);

    await step(say, children, opts.out, ['inspect', programs.server]);

    const capturePath = path.join(dir, 'demo.pcapng');
    const keyLogPath = path.join(dir, 'demo.keys');
    const captureArgs = ['capture', '--pid', String(server.pid), '-f', `tcp port ${port}`, '-w', capturePath, '--keylog', keyLogPath];
    say(`$ gokeylog ${captureArgs.join(' ')} &`);
    const capture = spawnCli(captureArgs, ['ignore', 'inherit', 'pipe']);
    children.push(capture);
    await firstLine(capture, /capturing on/, 'gokeylog capture', 'stderr');

    await runClient(say, children, programs.client, address, pki, node, 'kubelet/v1.31.2 (linux/amd64) kubernetes/5864a46', 'GET', [
      '/api/v1/namespaces/kube-system/pods?limit=3',
      '/api/v1/namespaces/kube-system/pods?watch=1',
    ]);
    await runClient(say, children, programs.client, address, pki, controller, 'kube-controller-manager/v1.31.2 (linux/amd64) kubernetes/5864a46', 'POST', [
      '/apis/apps/v1/namespaces/default/deployments',
    ]);

    say('(stopping the capture with SIGINT, as Ctrl-C would)');
    await stopAndWait(capture, 'SIGINT');
    say('');
    await step(say, children, opts.out, ['analyze', capturePath, '--expiring-within', '7', '--requests']);
    say(`Files (0600, in a 0700 directory): ${capturePath} opens decrypted in Wireshark with no options; ${keyLogPath} is the NSS key log.`);
    if (opts.keep === undefined) say('They are removed now; run `gokeylog demo --keep DIR` to keep them.');
  });
}

/** Both demos attach uprobes and run tcpdump. */
export function requireRoot(): void {
  if (process.getuid?.() !== 0) throw new GokeylogError('the demo attaches uprobes and runs tcpdump: run it as root.', 'GOKEYLOG_ERR_NEEDS_ROOT');
}

/**
 * Runs `body` in the demo's folder (see demoDir). The stop signal first: a Ctrl-C or a kill at any later point
 * stops the children and removes the folder of private keys, then `stop.onStopped()`. (Ctrl-C reaches the
 * children too; SIGTERM or SIGHUP to the demo alone does not.) Children get SIGTERM, and SIGKILL after 10 s.
 */
export async function inDemoDir(keep: string | undefined, children: ChildProcess[], stop: DemoStop, body: (dir: string) => Promise<void>): Promise<void> {
  let cleaning: Promise<void> | undefined;
  let dir: string | undefined;
  const cleanup = (signal?: NodeJS.Signals): Promise<void> => (cleaning ??= (async () => {
    // gokeylog's own commands first, and alone: they remove their probes, which must not race the exit of
    // the very process they hook. After a Ctrl-C they already have their SIGINT (the terminal's): no second one.
    const ours = children.filter((c) => CLI_CHILDREN.has(c));
    if (signal !== 'SIGINT') for (const child of ours) if (running(child)) child.kill('SIGINT');
    const ourTimer = setTimeout(() => ours.forEach((c) => c.kill('SIGTERM')), STEP_TIMEOUT_MS);
    await Promise.all(ours.map((c) => exited(c)));
    clearTimeout(ourTimer);
    for (const child of children) if (running(child)) child.kill('SIGTERM');
    const timer = setTimeout(() => children.forEach((c) => c.kill('SIGKILL')), 10_000);
    await Promise.all(children.map((c) => exited(c)));
    clearTimeout(timer);
    if (keep === undefined && dir !== undefined) rmSync(dir, { recursive: true, force: true });
  })());
  // The signal that stopped the run is the abort's reason (the CLI's stop signal): cleanup treats a Ctrl-C
  // (SIGINT, which the children got too) apart.
  const onAbort = (): void => void cleanup(typeof stop.signal.reason === 'string' && stop.signal.reason !== 'exit' ? (stop.signal.reason as NodeJS.Signals) : undefined).finally(() => stop.onStopped());
  stop.signal.addEventListener('abort', onAbort, { once: true });
  try {
    dir = demoDir(keep);
    await body(dir);
  } finally {
    stop.signal.removeEventListener('abort', onAbort);
    await cleanup();
  }
}

/**
 * The demo's folder (0700), one it makes itself: `--keep DIR` is made if it does not exist, and an existing DIR
 * (`--keep /tmp`) gets a new folder inside it, so that nothing the demo did not create is chmodded or written.
 */
function demoDir(keep: string | undefined): string {
  if (keep === undefined) return mkdtempSync(path.join(os.tmpdir(), 'gokeylog-demo-'));
  if (existsSync(keep)) return mkdtempSync(path.join(keep, 'gokeylog-demo-'));
  try {
    mkdirSync(keep, { mode: 0o700 });
  } catch (err) {
    throw new GokeylogError(`cannot make ${keep} for the demo's files: ${errnoReason(err)}.`, 'GOKEYLOG_ERR_IO', { cause: err });
  }
  return keep;
}

async function runClient(say: Say, children: ChildProcess[], client: string, address: string, pki: Pki, cert: CertPair, ua: string, method: string, paths: string[]): Promise<void> {
  const args = ['-url', `https://${address}/`, '-ca', pki.caCert, '-cert', cert.cert, '-key', cert.key, '-ua', ua, '-method', method, '-n', String(paths.length)];
  for (const p of paths) args.push('-path', p);
  say(`client "${ua.split(' ')[0]}" → ${method} ${paths.join(', ')}`);
  const child = spawn(client, args, { stdio: ['ignore', 'ignore', 'inherit'] });
  children.push(child);
  const code = await exited(child);
  if (code !== 0) throw new GokeylogError(`the demo client failed (exit ${code}).`, 'GOKEYLOG_ERR_TOOL');
}

/** Runs one gokeylog command, showing it and its output, as a user would see it. */
export async function step(say: Say, children: ChildProcess[], out: NodeJS.WritableStream, args: string[]): Promise<void> {
  say(`$ gokeylog ${args.join(' ')}`);
  const child = spawnCli(args, ['ignore', 'pipe', 'inherit']);
  children.push(child);
  child.stdout?.pipe(out, { end: false });
  const code = await exited(child);
  if (code !== 0) throw new GokeylogError(`\`gokeylog ${args[0]}\` failed in the demo (exit ${code}).`, 'GOKEYLOG_ERR_TOOL');
  say('');
}

/** This very CLI, as a child: the same node, loader flags and entry script. */
export function spawnCli(args: string[], stdio: ['ignore', 'pipe' | 'inherit' | 'ignore', 'pipe' | 'inherit']): ChildProcess {
  const child = spawn(process.execPath, [...process.execArgv, process.argv[1]!, ...args], { stdio });
  CLI_CHILDREN.add(child);
  return child;
}

/** The children that are gokeylog commands (see inDemoDir's cleanup). */
const CLI_CHILDREN = new WeakSet<ChildProcess>();

const running = (child: ChildProcess): boolean => child.exitCode === null && child.signalCode === null;

/** Resolves with the first capture group (or the line) of the first line matching `pattern`. */
export function firstLine(child: ChildProcess, pattern: RegExp, what: string, stream: 'stdout' | 'stderr' = 'stdout', echo = stream === 'stderr'): Promise<string> {
  const source = child[stream];
  if (!source) throw new Error(`${what}: ${stream} is not piped`);
  return new Promise((resolve, reject) => {
    const lines = createInterface({ input: source });
    const timer = setTimeout(() => fail(`${what} did not start within ${STEP_TIMEOUT_MS / 1000} s`), STEP_TIMEOUT_MS);
    const fail = (message: string): void => {
      clearTimeout(timer);
      reject(new GokeylogError(message, 'GOKEYLOG_ERR_TOOL'));
    };
    child.once('exit', (code) => fail(`${what} exited (${code}) before it was ready`));
    lines.on('line', (line) => {
      if (echo) process.stderr.write(`${line}\n`);
      const m = pattern.exec(line);
      if (m) {
        clearTimeout(timer);
        resolve(m[1] ?? line);
      }
    });
  });
}

export function exited(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => child.once('exit', (code) => resolve(code)));
}

export async function stopAndWait(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  child.kill(signal);
  const timer = setTimeout(() => child.kill('SIGKILL'), STEP_TIMEOUT_MS);
  const code = await exited(child);
  clearTimeout(timer);
  if (code !== 0) throw new GokeylogError(`gokeylog capture ended with exit ${code} in the demo.`, 'GOKEYLOG_ERR_TOOL');
}
