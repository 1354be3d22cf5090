import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { ETCD_READY, etcdArgs } from '../../src/demo/kubeControlPlane.js';
import type { CertPair, TestPki } from './pki.js';
import { secretTempDir } from './pki.js';
import {
  freePort,
  programPath,
  runProcess,
  secretFileIn,
  spawnChecked,
  startProcess,
  startServer,
  type ExitedProcess,
  type Program,
  type RunningProcess,
  type RunningServer,
  type SpawnResult,
  type TlsVersion,
} from './traffic.js';


/** What every client runner takes: the PKI, and a client certificate other than the node's if wanted. */
interface ClientOptions {
  pki: TestPki;
  /** Default: the PKI's CN=system:node:test-node certificate. */
  clientCert?: CertPair;
  timeoutMs?: number;
}

const clientCertOf = (options: ClientOptions): CertPair =>
  options.clientCert ?? { cert: options.pki.clientCert, key: options.pki.clientKey };

export interface RunningEtcd extends RunningProcess {
  /** https://127.0.0.1:PORT */
  endpoint: string;
  port: number;
  dataDir: string;
}

/**
 * Debian's etcd on 127.0.0.1 (client port over TLS with required client certificates, peer port plain),
 * with a throwaway data directory. Resolves once etcd says it serves clients.
 */
export async function startEtcd(options: { etcd: Program; pki: TestPki; timeoutMs?: number }): Promise<RunningEtcd> {
  const { pki } = options;
  const dataDir = path.join(secretTempDir('etcd'), 'data');
  const port = await freePort();
  const endpoint = `https://127.0.0.1:${port}`;
  const args = etcdArgs({ name: 'gokeylog-test', dataDir, port, peerPort: await freePort(), pki });
  const { process: etcd } = await startProcess(programPath(options.etcd), args, {
    ready: ETCD_READY,
    readyOn: 'stderr',
    timeoutMs: options.timeoutMs,
  });
  return { ...etcd, endpoint, port, dataDir };
}

/** `ETCDCTL_API=3 etcdctl --endpoints … ARGS` with the client certificate (default: the PKI's node certificate). */
export function runEtcdctl(
  options: ClientOptions & { etcdctl: Program; endpoint: string; args: string[] },
): Promise<SpawnResult> {
  const cert = clientCertOf(options);
  const args = [
    '--endpoints', options.endpoint, '--cacert', options.pki.caCert, '--cert', cert.cert, '--key', cert.key,
    '--dial-timeout', '10s', '--command-timeout', '10s', ...options.args,
  ];
  return spawnChecked(programPath(options.etcdctl), args, {
    env: { ...process.env, ETCDCTL_API: '3' },
    timeoutMs: options.timeoutMs,
  });
}

export interface KubeApiFixture extends RunningServer {
  /** https://127.0.0.1:PORT */
  url: string;
  /** A private directory (0700, removed at exit) for the test's files. */
  dir: string;
  /** The fixture's own key log (0600). */
  serverKeyLog: string;
}

/**
 * The tlsserver fixture playing kube-apiserver: TLS with required client certificates from the test CA,
 * writing its own key log.
 */
export async function startKubeApiFixture(options: {
  server: Program;
  pki: TestPki;
  tls?: TlsVersion;
  timeoutMs?: number;
}): Promise<KubeApiFixture> {
  const { pki } = options;
  const dir = secretTempDir('kube-api');
  const serverKeyLog = secretFileIn(dir, 'server.keylog');
  const args = [
    '-addr', '127.0.0.1:0', '-cert', pki.serverCert, '-key', pki.serverKey, '-client-ca', pki.caCert,
    '-keylog', serverKeyLog,
  ];
  if (options.tls) args.push('-max-version', options.tls);
  const server = await startServer(programPath(options.server), args, { timeoutMs: options.timeoutMs });
  return { ...server, url: `https://127.0.0.1:${server.port}`, dir, serverKeyLog };
}

export interface KubectlResult extends ExitedProcess {
  /** "METHOD URL STATUS" for every request kubectl made, from its -v=6 log. */
  requests: string[];
}

/**
 * kubectl with a kubeconfig (in a private temp dir) pointing at `server` with the given client certificate.
 * A failing kubectl is not an error here (e.g. a path the fixture answers with 404): the caller reads
 * `code` and `requests`.
 */
export async function runKubectl(
  options: ClientOptions & { kubectl: Program; server: string; args: string[] },
): Promise<KubectlResult> {
  // -v=6 logs one line per request with its status.
  const { args, env } = kubectlSetup(options);
  const result = await runProcess(programPath(options.kubectl), [...args, '-v=6', ...options.args], { env, timeoutMs: options.timeoutMs });
  const requests = [...result.stderr.matchAll(/\] (GET|POST|PUT|PATCH|DELETE) (https:\/\/\S+) (\d{3}|\S+ \S+)/g)].map(
    (m) => `${m[1]} ${m[2]} ${m[3]}`,
  );
  return { ...result, requests };
}

/**
 * A kubeconfig (in a private temp dir) pointing at `server` with the client certificate, and the arguments and
 * environment that make kubectl use it (its cache dir keeps discovery out of ~/.kube).
 */
export function kubectlSetup(options: ClientOptions & { server: string }): { dir: string; args: string[]; env: NodeJS.ProcessEnv } {
  const cert = clientCertOf(options);
  const dir = secretTempDir('kubectl');
  const kubeconfig = path.join(dir, 'kubeconfig');
  writeFileSync(
    kubeconfig,
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'test', cluster: { server: options.server, 'certificate-authority': options.pki.caCert } }],
      users: [{ name: 'test', user: { 'client-certificate': cert.cert, 'client-key': cert.key } }],
      contexts: [{ name: 'test', context: { cluster: 'test', user: 'test', namespace: 'default' } }],
      'current-context': 'test',
    }),
    { mode: 0o600 },
  );
  return { dir, args: ['--kubeconfig', kubeconfig, '--cache-dir', path.join(dir, 'cache')], env: { ...process.env, HOME: dir, KUBECONFIG: kubeconfig } };
}

/** A one-method gRPC service, so that `buf curl` knows what to send without any network schema lookup. */
const PING_PROTO = `syntax = "proto3";
package gokeylog.test.v1;
message PingRequest { string text = 1; }
message PingResponse { string text = 1; }
service PingService { rpc Ping(PingRequest) returns (PingResponse); }
`;

/** The path `runBufCurl` calls. */
export const BUF_PING_PATH = '/gokeylog.test.v1.PingService/Ping';

/**
 * `buf curl` (a real Go TLS client, built by many Go releases) calling PingService/Ping over gRPC (HTTP/2)
 * with a client certificate. The fixture answers 404, so buf exits non-zero after a complete TLS exchange:
 * the caller reads `code`. `-v` puts the request headers (with buf's Go version) on stderr.
 */
export function runBufCurl(
  options: ClientOptions & { buf: Program; /** https://127.0.0.1:PORT */ server: string },
): Promise<ExitedProcess> {
  const cert = clientCertOf(options);
  const dir = secretTempDir('buf');
  const schema = path.join(dir, 'schema');
  mkdirSync(schema);
  writeFileSync(path.join(schema, 'ping.proto'), PING_PROTO);
  const args = [
    'curl', '--schema', schema, '--cacert', options.pki.caCert, '--cert', cert.cert, '--key', cert.key,
    '--protocol', 'grpc', '--data', '{"text":"gokeylog"}', '-v', `${options.server}${BUF_PING_PATH}`,
  ];
  // buf keeps caches under $HOME/.cache; keep them in the throwaway directory.
  const env = { ...process.env, HOME: dir, XDG_CACHE_HOME: path.join(dir, 'cache') };
  return runProcess(programPath(options.buf), args, { env, timeoutMs: options.timeoutMs });
}
