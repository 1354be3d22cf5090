/**
 * `gokeylog demo --real`: the original write-up's scenario on a real control plane (scripts/setup-kube.sh):
 * a Kubernetes API server built from Debian's k8s.io sources (stripped, as the official images), Debian's
 * etcd behind mutual TLS, Debian's kubectl, and a long-lived client-go node client that connected before
 * gokeylog started. Which client uses the certificate that expires in 3 days? The capture names it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { GokeylogError } from '../util/errors.js';
import { exited, firstLine, inDemoDir, requireRoot, sayTo, spawnCli, step, stopAndWait, type DemoStop, type Say } from './demo.js';
import {
  apiserverArgs,
  createKubePki,
  ETCD_READY,
  etcdArgs,
  freePort,
  requireKubeControlPlane,
  waitForApiserver,
  writeKubeconfig,
  type KubeControlPlaneBinaries,
  type KubePki,
} from './kubeControlPlane.js';
import type { CertPair } from './pki.js';

export interface RealDemoOptions extends DemoStop {
  keep?: string;
  out: NodeJS.WritableStream;
}

const START_TIMEOUT_MS = 120_000;

const CRD = {
  apiVersion: 'apiextensions.k8s.io/v1',
  kind: 'CustomResourceDefinition',
  metadata: { name: 'widgets.demo.gokeylog.io' },
  spec: {
    group: 'demo.gokeylog.io',
    scope: 'Namespaced',
    names: { plural: 'widgets', singular: 'widget', kind: 'Widget', listKind: 'WidgetList' },
    versions: [{ name: 'v1', served: true, storage: true, schema: { openAPIV3Schema: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } } }],
  },
};

export async function runRealDemo(opts: RealDemoOptions): Promise<void> {
  requireRoot();
  const binaries = requireKubeControlPlane();
  const say = sayTo(opts.out);
  const children: ChildProcess[] = [];
  const start = (command: string, args: string[], stdout: 'pipe' | 'ignore' = 'ignore'): ChildProcess => {
    const child = spawn(command, args, { stdio: ['ignore', stdout, 'pipe'] });
    children.push(child);
    return child;
  };
  await inDemoDir(opts.keep, children, opts, async (dir) => {
    say('gokeylog demo --real: a Kubernetes API server and etcd, both stripped Go programs with no key log of their own.');
    say(`  API server: ${binaries.apiserver.source} (${binaries.goVersion})`);
    say(`  etcd:       ${binaries.etcd.source}; kubectl: ${binaries.kubectl.source}\n`);
    const pki = await createKubePki(dir);

    const etcdPort = await freePort();
    const etcd = start(binaries.etcd.path, etcdArgs({ name: 'demo', dataDir: path.join(dir, 'etcd'), port: etcdPort, peerPort: await freePort(), pki }));
    await firstLine(etcd, ETCD_READY, 'etcd', 'stderr', false);
    const port = await freePort();
    const url = `https://127.0.0.1:${port}`;
    const { args, files } = apiserverArgs({ upstream: false, port, etcdUrl: `https://127.0.0.1:${etcdPort}`, pki, dir });
    const apiserver = start(binaries.apiserver.path, args);
    await firstLine(apiserver, /Serving securely on/, 'the API server', 'stderr', false);
    await waitForApiserver(url, pki, { timeoutMs: START_TIMEOUT_MS, alive: () => apiserver.exitCode === null });
    say(`API server pid ${apiserver.pid} on ${url} (etcd pid ${etcd.pid} on 127.0.0.1:${etcdPort}, client certificates required)`);

    // The node client connects now, before gokeylog: its one HTTP/2 connection lives on, as kubelet's does.
    const nodeConfig = writeKubeconfig(path.join(dir, 'node.kubeconfig'), { server: url, caCert: pki.caCert, cert: pki.node });
    const node = start(binaries.nodeclient.path, [
      '-kubeconfig', nodeConfig, '-watch', 'apiextensions.k8s.io/v1/customresourcedefinitions',
      '-get', 'demo.gokeylog.io/v1/widgets/default/web', '-interval', '1s', '-user-agent', 'kubelet/v1.36.4 (linux/amd64) kubernetes/demo',
    ], 'pipe');
    await firstLine(node, /^SYNCED$/, 'the node client');
    say(`node client pid ${node.pid} (system:node:worker-1, certificate expires in 2 days) connected before gokeylog starts\n`);

    await step(say, children, opts.out, ['inspect', binaries.apiserver.path]);

    const capturePath = path.join(dir, 'demo.pcapng');
    const keyLogPath = path.join(dir, 'demo.keys');
    const captureArgs = ['capture', '--pid', String(apiserver.pid), '-w', capturePath, '--keylog', keyLogPath];
    say(`$ gokeylog ${captureArgs.join(' ')} &`);
    const capture = spawnCli(captureArgs, ['ignore', 'inherit', 'pipe']);
    children.push(capture);
    await firstLine(capture, /capturing on/, 'gokeylog capture', 'stderr');

    await kubectl(say, binaries, dir, url, pki, pki.admin, 'kubernetes-admin', ['create', '-f', writeJson(dir, 'crd.json', CRD)]);
    await kubectl(say, binaries, dir, url, pki, pki.admin, 'kubernetes-admin', ['wait', '--for=condition=Established', 'crd/widgets.demo.gokeylog.io', '--timeout=60s']);
    await kubectl(say, binaries, dir, url, pki, pki.admin, 'kubernetes-admin', ['create', '--validate=false', '-f', writeJson(dir, 'web.json', {
      apiVersion: 'demo.gokeylog.io/v1', kind: 'Widget', metadata: { name: 'web', namespace: 'default' }, spec: { replicas: 2 },
    })]);
    await kubectl(say, binaries, dir, url, pki, pki.controllerManager, 'system:kube-controller-manager', ['get', 'widgets', '--all-namespaces']);
    await kubectl(say, binaries, dir, url, pki, pki.controllerManager, 'system:kube-controller-manager', ['patch', 'widget', 'web', '--type=merge', '-p', '{"spec":{"replicas":3}}']);

    say('(stopping the capture with SIGINT, as Ctrl-C would)');
    await stopAndWait(capture, 'SIGINT');
    say('');
    await step(say, children, opts.out, ['analyze', capturePath, '--expiring-within', '7', '--requests']);
    say(`The API server's own audit log (${files.auditLog}) records the same requests: the referee the tests compare against.`);
    say(`Files (0600, in a 0700 directory): ${capturePath} opens decrypted in Wireshark with no options; ${keyLogPath} is the NSS key log.`);
    if (opts.keep === undefined) say('They are removed now; run `gokeylog demo --real --keep DIR` to keep them.');
  });
}

function writeJson(dir: string, name: string, object: unknown): string {
  const file = path.join(dir, name);
  writeFileSync(file, JSON.stringify(object, null, 2), { mode: 0o600 });
  return file;
}

/** Debian's kubectl with a kubeconfig of its own for `who`, shown like a step. */
async function kubectl(say: Say, binaries: KubeControlPlaneBinaries, dir: string, url: string, pki: KubePki, cert: CertPair, who: string, args: string[]): Promise<void> {
  const home = path.join(dir, `kubectl-${who.replaceAll(':', '-')}`);
  mkdirSync(home, { recursive: true, mode: 0o700 });
  const config = writeKubeconfig(path.join(home, 'kubeconfig'), { server: url, caCert: pki.caCert, cert });
  say(`kubectl as ${who}: kubectl ${args.map((a) => (a.startsWith(dir) ? path.basename(a) : a)).join(' ')}`);
  const child = spawn(binaries.kubectl.path, ['--kubeconfig', config, '--cache-dir', path.join(home, 'cache'), ...args], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, HOME: home },
  });
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const timer = setTimeout(() => child.kill('SIGKILL'), START_TIMEOUT_MS);
  const code = await exited(child);
  clearTimeout(timer);
  if (code !== 0) throw new GokeylogError(`kubectl failed in the demo (exit ${code}): ${stderr.trim().split('\n').at(-1) ?? ''}`, 'GOKEYLOG_ERR_TOOL');
}
