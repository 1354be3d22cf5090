/**
 * The real Kubernetes control plane that scripts/setup-kube.sh builds from Debian sid (API server, etcd,
 * kubectl, a client-go node client): where its binaries are, the PKI its components and clients use, and
 * the command lines, kubeconfigs and audit policy that run it on 127.0.0.1. Spawning is left to the
 * callers (`gokeylog demo --real`, the tests), which own their processes' lifetimes.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { once } from 'node:events';
import { request } from 'node:https';
import net from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { cacheDir } from '../util/cache.js';
import { GokeylogError } from '../util/errors.js';
import { createPki, type CertPair, type Pki } from './pki.js';

interface Binary {
  path: string;
  /** Where it came from, e.g. "debian sid etcd-server 3.5.30-2". */
  source: string;
}

/** $GOKEYLOG_CACHE/kube/manifest.json as scripts/setup-kube.sh writes it. */
export interface KubeControlPlaneBinaries {
  goVersion: string;
  goSourcePackages: number;
  /** k8s.io/apiextensions-apiserver's own main, unmodified (authorization delegated, no /apis discovery). */
  upstreamApiserver: Binary;
  /** The same server with AlwaysAllow authorization, /apis discovery and --token-auth-file. */
  apiserver: Binary;
  nodeclient: Binary;
  etcd: Binary;
  etcdctl: Binary;
  kubectl: Binary;
}

export const kubeManifestPath = (): string => path.join(cacheDir(), 'kube', 'manifest.json');

/** The binaries, or null when the setup has not built them (or one has gone missing since). */
export function kubeControlPlaneBinaries(): KubeControlPlaneBinaries | null {
  const file = kubeManifestPath();
  if (!existsSync(file)) return null;
  let manifest: KubeControlPlaneBinaries;
  try {
    manifest = JSON.parse(readFileSync(file, 'utf8')) as KubeControlPlaneBinaries;
  } catch {
    return null;
  }
  const binaries = [manifest.upstreamApiserver, manifest.apiserver, manifest.nodeclient, manifest.etcd, manifest.etcdctl, manifest.kubectl];
  return binaries.every((b) => b !== undefined && existsSync(b.path)) ? manifest : null;
}

/** Like kubeControlPlaneBinaries, but says how to build them when they are missing. */
export function requireKubeControlPlane(): KubeControlPlaneBinaries {
  const binaries = kubeControlPlaneBinaries();
  if (binaries === null) {
    throw new GokeylogError(
      `the real control plane is not built (no ${kubeManifestPath()}): run \`bash scripts/setup-kube.sh\` (or \`bash scripts/setup.sh --tests\`) first.`,
      'GOKEYLOG_ERR_TOOL',
    );
  }
  return binaries;
}

/** A bearer token the API server knows from its --token-auth-file, and whom it stands for. */
export interface StaticToken {
  token: string;
  user: string;
  uid: string;
  groups: string[];
}

/**
 * Everyone in the control plane, as kubeadm names them: each a client certificate from the cluster CA
 * (CN = user, O = groups), except the impostor, whose certificate has the admin's subject but comes from
 * another CA that the API server does not trust.
 */
export interface KubePki extends Pki {
  /** kubectl as the cluster admin: CN=kubernetes-admin, O=system:masters. */
  admin: CertPair;
  /** CN=system:kube-controller-manager, expiring in 3 days. */
  controllerManager: CertPair;
  /** CN=system:node:worker-1, O=system:nodes, expiring in 2 days (the long-lived node client). */
  node: CertPair;
  /** The API server's client certificate for etcd: CN=kube-apiserver-etcd-client. */
  etcdClient: CertPair;
  /** What the API server's own delegated-authentication/authorization clients call it with (system:masters). */
  self: CertPair;
  /** CN=kubernetes-admin, O=system:masters, signed by an untrusted CA. */
  impostor: CertPair;
  untrustedCaCert: string;
  /** The bearer token of a service account, a JWT as the real ones are (the server only compares strings). */
  token: StaticToken;
  /** The --token-auth-file holding `token`. */
  tokenFile: string;
}

const base64url = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url');

/** A service-account-shaped JWT (unsigned: the static token authenticator compares it as a string). */
function serviceAccountJwt(namespace: string, name: string, uid: string, nowSeconds: number): string {
  const claims = {
    iss: 'https://kubernetes.default.svc.cluster.local',
    sub: `system:serviceaccount:${namespace}:${name}`,
    aud: ['https://kubernetes.default.svc.cluster.local'],
    iat: nowSeconds,
    exp: nowSeconds + 3600,
    'kubernetes.io': { namespace, serviceaccount: { name, uid } },
  };
  return `${base64url({ alg: 'none', typ: 'JWT' })}.${base64url(claims)}.gokeylog-test-signature`;
}

/**
 * The whole PKI, with openssl, in two 0700 folders inside `dir` (which the caller made 0700): cluster/ and
 * untrusted-ca/ (createPki makes every file in its folder 0600, so the two cannot share one).
 */
export async function createKubePki(dir: string): Promise<KubePki> {
  const clusterDir = path.join(dir, 'cluster');
  mkdirSync(clusterDir, { mode: 0o700 });
  const pki = await createPki(clusterDir);
  const admin = await pki.makeClientCert({ cn: 'kubernetes-admin', orgs: ['system:masters'], days: 365 });
  const controllerManager = await pki.makeClientCert({ cn: 'system:kube-controller-manager', days: 3 });
  const node = await pki.makeClientCert({ cn: 'system:node:worker-1', orgs: ['system:nodes'], days: 2 });
  const etcdClient = await pki.makeClientCert({ cn: 'kube-apiserver-etcd-client', days: 365 });
  const self = await pki.makeClientCert({ cn: 'system:apiextensions-apiserver', orgs: ['system:masters'], days: 365 });
  const otherDir = path.join(dir, 'untrusted-ca');
  mkdirSync(otherDir, { mode: 0o700 });
  const other = await createPki(otherDir);
  const impostor = await other.makeClientCert({ cn: 'kubernetes-admin', orgs: ['system:masters'], days: 365 });
  const uid = '5b0e1f0c-9c3a-4f43-8b7e-6c1d2a9e0f11';
  const user = 'system:serviceaccount:default:deployer';
  const groups = ['system:serviceaccounts', 'system:serviceaccounts:default'];
  const token: StaticToken = { token: serviceAccountJwt('default', 'deployer', uid, Math.floor(Date.now() / 1000)), user, uid, groups };
  const tokenFile = path.join(clusterDir, 'tokens.csv');
  writeFileSync(tokenFile, `${token.token},${user},${uid},"${groups.join(',')}"\n`, { mode: 0o600 });
  return { ...pki, admin, controllerManager, node, etcdClient, self, impostor, untrustedCaCert: other.caCert, token, tokenFile };
}

/** etcd serving clients over TLS on 127.0.0.1 with required client certificates from the cluster CA. */
export function etcdArgs(options: { name: string; dataDir: string; port: number; peerPort: number; pki: Pick<Pki, 'caCert' | 'serverCert' | 'serverKey'> }): string[] {
  const { pki } = options;
  const endpoint = `https://127.0.0.1:${options.port}`;
  const peer = `http://127.0.0.1:${options.peerPort}`;
  return [
    '--name', options.name, '--data-dir', options.dataDir,
    '--listen-client-urls', endpoint, '--advertise-client-urls', endpoint,
    '--listen-peer-urls', peer, '--initial-advertise-peer-urls', peer, '--initial-cluster', `${options.name}=${peer}`,
    '--client-cert-auth', '--trusted-ca-file', pki.caCert, '--cert-file', pki.serverCert, '--key-file', pki.serverKey,
  ];
}

/** etcd says this on stderr once it serves clients. */
export const ETCD_READY = /ready to serve client requests/;

/** Level Metadata for every request: who, what, answer — never bodies. RequestReceived adds nothing. */
export const AUDIT_POLICY = `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived"]
rules:
- level: Metadata
`;

/** A kubeconfig for `server` with a client certificate or a bearer token (0600). */
export function writeKubeconfig(file: string, options: { server: string; caCert: string; cert?: CertPair; token?: string }): string {
  const user: Record<string, string> = {};
  if (options.cert) Object.assign(user, { 'client-certificate': options.cert.cert, 'client-key': options.cert.key });
  if (options.token) user.token = options.token;
  const config = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'gokeylog', cluster: { server: options.server, 'certificate-authority': options.caCert } }],
    users: [{ name: 'gokeylog', user }],
    contexts: [{ name: 'gokeylog', context: { cluster: 'gokeylog', user: 'gokeylog', namespace: 'default' } }],
    'current-context': 'gokeylog',
  };
  writeFileSync(file, JSON.stringify(config, null, 2), { mode: 0o600 });
  return file;
}

export interface ApiserverFiles {
  /** The kubeconfig (system:masters, pointing at the server itself) for its delegated clients. */
  selfKubeconfig: string;
  auditPolicy: string;
  auditLog: string;
}

/**
 * The command line of either API server on 127.0.0.1:port, backed by etcd over mutual TLS, with the audit
 * log. Standalone, the upstream main needs kubeconfigs for delegated authentication/authorization and the core
 * API: they point at the server itself with a system:masters certificate. No configmap lookup, no default
 * admission plugins (they need the core API), no priority and fairness (its configuration objects too).
 */
export function apiserverArgs(options: {
  upstream: boolean;
  port: number;
  etcdUrl: string;
  pki: KubePki;
  dir: string;
}): { args: string[]; files: ApiserverFiles } {
  const { pki, dir } = options;
  const url = `https://127.0.0.1:${options.port}`;
  const files: ApiserverFiles = {
    selfKubeconfig: writeKubeconfig(path.join(dir, 'self.kubeconfig'), { server: url, caCert: pki.caCert, cert: pki.self }),
    auditPolicy: path.join(dir, 'audit-policy.yaml'),
    auditLog: path.join(dir, 'audit.log'),
  };
  writeFileSync(files.auditPolicy, AUDIT_POLICY, { mode: 0o600 });
  const args = [
    '--bind-address', '127.0.0.1', '--secure-port', String(options.port),
    '--tls-cert-file', pki.serverCert, '--tls-private-key-file', pki.serverKey,
    '--client-ca-file', pki.caCert,
    '--etcd-servers', options.etcdUrl, '--etcd-cafile', pki.caCert,
    '--etcd-certfile', pki.etcdClient.cert, '--etcd-keyfile', pki.etcdClient.key,
    '--authentication-kubeconfig', files.selfKubeconfig, '--kubeconfig', files.selfKubeconfig, '--authentication-skip-lookup',
    '--disable-admission-plugins',
    'NamespaceLifecycle,MutatingAdmissionPolicy,MutatingAdmissionWebhook,ValidatingAdmissionPolicy,ValidatingAdmissionWebhook',
    '--enable-priority-and-fairness=false',
    '--audit-log-path', files.auditLog, '--audit-policy-file', files.auditPolicy, '--audit-log-format', 'json',
  ];
  // Ours authorizes everything itself (AlwaysAllow) and knows static tokens; upstream delegates authorization.
  if (options.upstream) args.push('--authorization-kubeconfig', files.selfKubeconfig);
  else args.push('--token-auth-file', pki.tokenFile);
  return { args, files };
}

/** GET `url` with a client certificate; resolves to the status (0 when nothing answered) and the body. */
function get(url: string, pki: KubePki, cert: CertPair): Promise<{ status: number; body: string }> {
  return new Promise((resolve) => {
    const req = request(url, { ca: readFileSync(pki.caCert), cert: readFileSync(cert.cert), key: readFileSync(cert.key), timeout: 5000 }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d: string) => (body += d.slice(0, 4096 - body.length)));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', () => resolve({ status: 0, body: '' }));
    req.on('timeout', () => req.destroy());
    req.end();
  });
}

/**
 * /readyz without informer-sync: standalone, the server's core-API informer (Services, for conversion
 * webhooks) never syncs, as no core API is served; everything else (etcd, CRD informers, post-start hooks)
 * must be ready.
 */
const READYZ = '/readyz?verbose&exclude=informer-sync';

/**
 * Waits until the API server answers /readyz with 200 (its post-start hooks done: CRD informers synced),
 * polling with the admin certificate; rejects after `timeoutMs` or when `alive()` turns false.
 */
export async function waitForApiserver(url: string, pki: KubePki, options: { timeoutMs: number; alive: () => boolean }): Promise<void> {
  const deadline = Date.now() + options.timeoutMs;
  let last = { status: 0, body: '' };
  while (Date.now() < deadline) {
    if (!options.alive()) throw new GokeylogError('the API server exited while starting.', 'GOKEYLOG_ERR_TOOL');
    last = await get(`${url}${READYZ}`, pki, pki.admin);
    if (last.status === 200) return;
    await sleep(200);
  }
  const failed = last.body.split('\n').filter((l) => l.startsWith('[-]')).join('; ');
  throw new GokeylogError(`the API server at ${url} was not ready within ${options.timeoutMs / 1000} s (last /readyz: ${last.status || 'no answer'}${failed ? `: ${failed}` : ''}).`, 'GOKEYLOG_ERR_TOOL');
}

/** A TCP port on 127.0.0.1 that was free a moment ago, for programs that cannot listen on port 0 and say which. */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as net.AddressInfo;
  server.close();
  await once(server, 'close');
  return port;
}
