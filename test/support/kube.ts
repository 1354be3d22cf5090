// The real control plane in the tests: Debian sid's etcd with mutual TLS, the API server (ours with
// AlwaysAllow, or the unmodified upstream main) on 127.0.0.1 with its audit log at level Metadata, and its
// clients: Debian's kubectl with each identity, the client-go node client, curl.
import path from 'node:path';
import {
  apiserverArgs,
  createKubePki,
  ETCD_READY,
  etcdArgs,
  kubeControlPlaneBinaries,
  waitForApiserver,
  writeKubeconfig,
  type KubeControlPlaneBinaries,
  type KubePki,
} from '../../src/demo/kubeControlPlane.js';
import type { CertPair } from './pki.js';
import { secretTempDir } from './pki.js';
import { freePort, runProcess, startProcess, type ExitedProcess, type RunningProcess } from './traffic.js';

export { kubeControlPlaneBinaries, type KubeControlPlaneBinaries, type KubePki };

/** Who a client is: a certificate, a bearer token, or nobody (anonymous). */
export type KubeCredential = { cert: CertPair } | { token: string } | 'anonymous';

export interface KubeControlPlane {
  binaries: KubeControlPlaneBinaries;
  pki: KubePki;
  /** A private 0700 directory, removed at exit. */
  dir: string;
  etcd: RunningProcess & { url: string; port: number };
  apiserver: RunningProcess & { url: string; port: number; pid: number; auditLog: string; upstream: boolean };
  /** A kubeconfig (0600) for this server and credential. */
  kubeconfig(credential: KubeCredential, name: string): string;
  /** Stops the API server, then etcd (idempotent). */
  stop(): Promise<void>;
}

let pkiOnce: Promise<KubePki> | undefined;

/** The control-plane PKI, made once per test process. */
export function kubePki(): Promise<KubePki> {
  pkiOnce ??= createKubePki(secretTempDir('kube-pki'));
  return pkiOnce;
}

const START_TIMEOUT_MS = 120_000;

/**
 * etcd, then the API server, ready (its /readyz answers 200). `beforeApiserver` runs once etcd serves (e.g. to
 * capture etcd before the API server's connections to it open).
 */
export async function startKubeControlPlane(
  options: { upstream?: boolean; beforeApiserver?: (etcd: KubeControlPlane['etcd']) => Promise<void> } = {},
): Promise<KubeControlPlane> {
  const binaries = kubeControlPlaneBinaries();
  if (binaries === null) throw new Error('the real control plane is not built: bash scripts/setup-kube.sh');
  const upstream = options.upstream ?? false;
  const pki = await kubePki();
  const dir = secretTempDir('kube');
  const etcdPort = await freePort();
  const { process: etcdProcess } = await startProcess(
    binaries.etcd.path,
    etcdArgs({ name: 'gokeylog', dataDir: path.join(dir, 'etcd'), port: etcdPort, peerPort: await freePort(), pki }),
    { ready: ETCD_READY, readyOn: 'stderr', timeoutMs: START_TIMEOUT_MS },
  );
  const etcd = { ...etcdProcess, url: `https://127.0.0.1:${etcdPort}`, port: etcdPort };
  try {
    await options.beforeApiserver?.(etcd);
    const port = await freePort();
    const { args, files } = apiserverArgs({ upstream, port, etcdUrl: etcd.url, pki, dir });
    const binary = upstream ? binaries.upstreamApiserver : binaries.apiserver;
    const { process: server } = await startProcess(binary.path, args, {
      ready: /Serving securely on/,
      readyOn: 'stderr',
      timeoutMs: START_TIMEOUT_MS,
    });
    const url = `https://127.0.0.1:${port}`;
    try {
      await waitForApiserver(url, pki, { timeoutMs: START_TIMEOUT_MS, alive: () => server.child.exitCode === null });
    } catch (err) {
      await server.stop();
      throw new Error(`${err instanceof Error ? err.message : err}\n${server.stderr().slice(-2000)}`);
    }
    const apiserver = { ...server, url, port, pid: server.child.pid!, auditLog: files.auditLog, upstream };
    let stopping: Promise<void> | undefined;
    let configs = 0;
    return {
      binaries,
      pki,
      dir,
      etcd,
      apiserver,
      kubeconfig: (credential, name) =>
        writeKubeconfig(path.join(dir, `${name}-${++configs}.kubeconfig`), {
          server: url,
          caCert: pki.caCert,
          ...(credential === 'anonymous' ? {} : credential),
        }),
      stop: () =>
        (stopping ??= (async () => {
          await apiserver.stop();
          await etcd.stop();
        })()),
    };
  } catch (err) {
    await etcd.stop();
    throw err;
  }
}

/**
 * Debian's kubectl against the control plane with `credential`; a failing kubectl is not an error here (a
 * 404 or 401 is what some tests want): the caller reads `code`.
 */
export function kubectl(cp: KubeControlPlane, credential: KubeCredential, args: string[], options: { timeoutMs?: number } = {}): Promise<ExitedProcess> {
  const home = secretTempDir('kubectl');
  const config = cp.kubeconfig(credential, 'kubectl');
  const env = { ...process.env, HOME: home, KUBECONFIG: config };
  return runProcess(cp.binaries.kubectl.path, ['--kubeconfig', config, '--cache-dir', path.join(home, 'cache'), ...args], {
    env,
    timeoutMs: options.timeoutMs ?? 60_000,
  });
}

export interface NodeClientOptions {
  credential?: KubeCredential;
  /** GROUP/VERSION/RESOURCE to LIST and WATCH. */
  watch: string[];
  /** GROUP/VERSION/RESOURCE/NAMESPACE/NAME to GET periodically. */
  get?: string;
  gets?: number;
  intervalMs?: number;
  userAgent?: string;
}

/** The client-go node client (one HTTP/2 connection), running once its informers have synced. */
export async function startNodeClient(cp: KubeControlPlane, options: NodeClientOptions): Promise<RunningProcess> {
  const config = cp.kubeconfig(options.credential ?? { cert: cp.pki.node }, 'node');
  const args = ['-kubeconfig', config, '-interval', `${options.intervalMs ?? 1000}ms`];
  for (const w of options.watch) args.push('-watch', w);
  if (options.get) args.push('-get', options.get, '-gets', String(options.gets ?? 0));
  if (options.userAgent) args.push('-user-agent', options.userAgent);
  const { process: client } = await startProcess(cp.binaries.nodeclient.path, args, { ready: /^SYNCED$/m, timeoutMs: 60_000 });
  return client;
}
