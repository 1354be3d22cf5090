import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { choosePresetProcesses, flagValue, kubeconfigServerPort, PRESETS, presetFilter, servedPorts, type PresetCandidate } from '../../src/probe/presets.js';
import { resolvePreset } from '../../src/probe/presetTargets.js';
import { isRoot, requireOrSkip } from '../support/env.js';
import { installAs, lookalike, startUnderWrapper } from '../support/lookalike.js';
import { secretTempDir } from '../support/pki.js';
import { freePort, startProcess, type RunningProcess } from '../support/traffic.js';

// Command lines as kubeadm writes them into its static pod manifests (v1.30+), and as minikube runs them.
const KUBEADM_APISERVER = ['kube-apiserver', '--advertise-address=192.168.49.2', '--allow-privileged=true', '--authorization-mode=Node,RBAC', '--client-ca-file=/etc/kubernetes/pki/ca.crt', '--enable-admission-plugins=NodeRestriction', '--enable-bootstrap-token-auth=true', '--etcd-cafile=/etc/kubernetes/pki/etcd/ca.crt', '--etcd-certfile=/etc/kubernetes/pki/apiserver-etcd-client.crt', '--etcd-keyfile=/etc/kubernetes/pki/apiserver-etcd-client.key', '--etcd-servers=https://127.0.0.1:2379', '--kubelet-client-certificate=/etc/kubernetes/pki/apiserver-kubelet-client.crt', '--kubelet-client-key=/etc/kubernetes/pki/apiserver-kubelet-client.key', '--kubelet-preferred-address-types=InternalIP,ExternalIP,Hostname', '--proxy-client-cert-file=/etc/kubernetes/pki/front-proxy-client.crt', '--proxy-client-key-file=/etc/kubernetes/pki/front-proxy-client.key', '--requestheader-allowed-names=front-proxy-client', '--requestheader-client-ca-file=/etc/kubernetes/pki/front-proxy-ca.crt', '--requestheader-extra-headers-prefix=X-Remote-Extra-', '--requestheader-group-headers=X-Remote-Group', '--requestheader-username-headers=X-Remote-User', '--secure-port=8443', '--service-account-issuer=https://kubernetes.default.svc.cluster.local', '--service-account-key-file=/etc/kubernetes/pki/sa.pub', '--service-account-signing-key-file=/etc/kubernetes/pki/sa.key', '--service-cluster-ip-range=10.96.0.0/12', '--tls-cert-file=/etc/kubernetes/pki/apiserver.crt', '--tls-private-key-file=/etc/kubernetes/pki/apiserver.key'];
const KUBEADM_ETCD = ['etcd', '--advertise-client-urls=https://192.168.49.2:2379', '--cert-file=/etc/kubernetes/pki/etcd/server.crt', '--client-cert-auth=true', '--data-dir=/var/lib/etcd', '--experimental-initial-corrupt-check=true', '--experimental-watch-progress-notify-interval=5s', '--initial-advertise-peer-urls=https://192.168.49.2:2380', '--initial-cluster=node1=https://192.168.49.2:2380', '--key-file=/etc/kubernetes/pki/etcd/server.key', '--listen-client-urls=https://127.0.0.1:2379,https://192.168.49.2:2379', '--listen-metrics-urls=http://127.0.0.1:2381', '--listen-peer-urls=https://192.168.49.2:2380', '--name=node1', '--peer-cert-file=/etc/kubernetes/pki/etcd/peer.crt', '--peer-client-cert-auth=true', '--peer-key-file=/etc/kubernetes/pki/etcd/peer.key', '--peer-trusted-ca-file=/etc/kubernetes/pki/etcd/ca.crt', '--snapshot-count=10000', '--trusted-ca-file=/etc/kubernetes/pki/etcd/ca.crt'];
const KUBEADM_CONTROLLER_MANAGER = ['kube-controller-manager', '--allocate-node-cidrs=true', '--authentication-kubeconfig=/etc/kubernetes/controller-manager.conf', '--authorization-kubeconfig=/etc/kubernetes/controller-manager.conf', '--bind-address=127.0.0.1', '--client-ca-file=/etc/kubernetes/pki/ca.crt', '--cluster-cidr=10.244.0.0/16', '--cluster-name=kubernetes', '--cluster-signing-cert-file=/etc/kubernetes/pki/ca.crt', '--cluster-signing-key-file=/etc/kubernetes/pki/ca.key', '--controllers=*,bootstrapsigner,tokencleaner', '--kubeconfig=/etc/kubernetes/controller-manager.conf', '--leader-elect=true', '--requestheader-client-ca-file=/etc/kubernetes/pki/front-proxy-ca.crt', '--root-ca-file=/etc/kubernetes/pki/ca.crt', '--service-account-private-key-file=/etc/kubernetes/pki/sa.key', '--service-cluster-ip-range=10.96.0.0/12', '--use-service-account-credentials=true'];
const KUBELET = ['/usr/bin/kubelet', '--bootstrap-kubeconfig=/etc/kubernetes/bootstrap-kubelet.conf', '--kubeconfig=/etc/kubernetes/kubelet.conf', '--config=/var/lib/kubelet/config.yaml', '--container-runtime-endpoint=unix:///run/containerd/containerd.sock', '--pod-infra-container-image=registry.k8s.io/pause:3.10'];
// A kubeconfig as kubeadm writes it for the controller-manager (certificate data cut short).
const KUBEADM_KUBECONFIG = `apiVersion: v1
clusters:
- cluster:
    certificate-authority-data: LS0tLS1CRUdJTi...
    server: https://192.168.49.2:8443
  name: kubernetes
contexts:
- context:
    cluster: kubernetes
    user: system:kube-controller-manager
  name: system:kube-controller-manager@kubernetes
current-context: system:kube-controller-manager@kubernetes
kind: Config
`;

test('ports come from the command line as kubeadm writes it, else from the defaults', () => {
  assert.deepEqual(servedPorts(PRESETS.apiserver, KUBEADM_APISERVER), [{ port: 8443, source: '--secure-port' }]);
  assert.deepEqual(servedPorts(PRESETS.apiserver, ['kube-apiserver']), [{ port: 6443, source: 'default' }]);
  assert.deepEqual(servedPorts(PRESETS.etcd, KUBEADM_ETCD), [
    { port: 2379, source: '--listen-client-urls' },
    { port: 2380, source: '--listen-peer-urls' },
  ]);
  assert.deepEqual(servedPorts(PRESETS['controller-manager'], KUBEADM_CONTROLLER_MANAGER), [{ port: 10257, source: 'default' }]);
  assert.deepEqual(servedPorts(PRESETS.scheduler, ['kube-scheduler', '--secure-port', '20259']), [{ port: 20259, source: '--secure-port' }]);
  assert.deepEqual(servedPorts(PRESETS.kubelet, KUBELET), [{ port: 10250, source: 'default' }]);
  assert.deepEqual(servedPorts(PRESETS['kube-proxy'], ['kube-proxy', '--config=/var/lib/kube-proxy/config.conf']), []);
  // --secure-port=0 turns secure serving off; a port out of range serves nothing either.
  assert.deepEqual(servedPorts(PRESETS.apiserver, ['kube-apiserver', '--secure-port=0']), []);
  assert.deepEqual(servedPorts(PRESETS.etcd, ['etcd', '--listen-client-urls=unix://x,http://[::1]:32379', '--listen-peer-urls=bogus']), [{ port: 32379, source: '--listen-client-urls' }]);
});

test('flags are read as pflag reads them: both forms, single dash, the last one wins, none after --', () => {
  assert.equal(flagValue(['x', '--secure-port', '7443'], '--secure-port'), '7443');
  assert.equal(flagValue(['x', '-secure-port=7443'], '--secure-port'), '7443');
  assert.equal(flagValue(['x', '--secure-port=1', '--secure-port=2'], '--secure-port'), '2');
  assert.equal(flagValue(['x', '--', '--secure-port=2'], '--secure-port'), undefined);
  assert.equal(flagValue(['--secure-port=2'], '--secure-port'), undefined, 'argv[0] is the program');
});

test('a kubeconfig names the API server port; without a port it is the scheme default', () => {
  assert.equal(kubeconfigServerPort(KUBEADM_KUBECONFIG), 8443);
  assert.equal(kubeconfigServerPort('{"clusters":[{"cluster":{"server":"https://api.example:443"}}]}'), 443);
  assert.equal(kubeconfigServerPort('clusters:\n- cluster:\n    server: https://api.example\n'), 443);
  assert.equal(kubeconfigServerPort('no server here'), undefined);
});

test('the filter captures every chosen port once', () => {
  assert.equal(presetFilter([6443, 2379, 6443]), 'tcp and (port 2379 or port 6443)');
  assert.equal(presetFilter([]), undefined);
});

const candidate = (c: Partial<PresetCandidate> & { pid: number }): PresetCandidate => ({ comm: 'kube-apiserver', argv: ['kube-apiserver'], exePath: '/usr/local/bin/kube-apiserver', goBinary: true, listening: [], startedAt: 0, ...c });

test('among look-alikes the Go process that listens on its ports is chosen, and the others are named with a reason', () => {
  const wrapper = candidate({ pid: 10, exePath: '/usr/bin/bash', goBinary: false });
  const serving = candidate({ pid: 11, argv: KUBEADM_APISERVER, listening: [8443], startedAt: 5 });
  const exiting = candidate({ pid: 9, argv: KUBEADM_APISERVER, listening: [], startedAt: 1 });
  const choice = choosePresetProcesses(PRESETS.apiserver, [wrapper, exiting, serving]);
  assert.deepEqual(choice.chosen.map((c) => c.pid), [11]);
  assert.deepEqual(choice.passedOver.map((p) => p.pid).sort(), [10, 9].sort());
  assert.match(choice.passedOver.find((p) => p.pid === 10)!.reason, /not a Go program: it runs \/usr\/bin\/bash/);
  assert.match(choice.passedOver.find((p) => p.pid === 9)!.reason, /not listening on 8443/);
  // Two serving processes of one binary (etcd members on one host) are both chosen, newest first.
  const a = candidate({ pid: 20, comm: 'etcd', argv: ['etcd', '--listen-client-urls=https://127.0.0.1:2379'], listening: [2379], startedAt: 1 });
  const b = candidate({ pid: 21, comm: 'etcd', argv: ['etcd', '--listen-client-urls=https://127.0.0.1:3379'], listening: [3379], startedAt: 2 });
  assert.deepEqual(choosePresetProcesses(PRESETS.etcd, [a, b]).chosen.map((c) => c.pid), [21, 20]);
  assert.match(choosePresetProcesses(PRESETS.etcd, [wrapper]).why, /no Go process named etcd/);
});

test('--k8s apiserver on this host: the real server is chosen over its wrapper shell and a copy that does not serve', async (t) => {
  const binary = await lookalike(t);
  if (!binary) return;
  const dir = secretTempDir('apiserver');
  const stale = installAs(binary, path.join(dir, 'stale'), 'kube-apiserver');
  const port = await freePort();
  const running: RunningProcess[] = [];
  try {
    const wrapped = await startUnderWrapper(binary, dir, 'kube-apiserver', [`--secure-port=${port}`, '--etcd-servers=https://127.0.0.1:2379']);
    running.push(wrapped);
    running.push(await startProcess(stale, ['--etcd-servers=https://127.0.0.1:2379'], { ready: /^ready$/m }).then((r) => r.process));
    const choice = await resolvePreset('apiserver');
    const wrapperPid = wrapped.child.pid!;
    const stalePid = running[1]!.child.pid!;
    const chosen = choice.chosen.find((c) => c.pid === wrapped.serverPid);
    assert.ok(chosen, `the server under the wrapper is chosen: ${JSON.stringify(choice)}`);
    assert.ok(!choice.chosen.some((c) => c.pid === wrapperPid || c.pid === stalePid), 'neither the wrapper nor the stale copy');
    assert.match(choice.passedOver.find((p) => p.pid === wrapperPid)?.reason ?? '', /not a Go program: it runs \/usr\/bin\/dash|not a Go program: it runs \/bin\/dash/);
    assert.match(choice.passedOver.find((p) => p.pid === stalePid)?.reason ?? '', /not listening on 6443/);
    assert.ok(choice.ports.includes(port));
  } finally {
    for (const r of running.reverse()) await r.stop('SIGKILL');
  }
});

test('--k8s kubelet in its own mount namespace: its kubeconfig is read inside its root, and both ports are captured', async (t) => {
  if (!requireOrSkip(t, isRoot(), 'a private mount namespace needs root')) return;
  const binary = await lookalike(t);
  if (!binary) return;
  const dir = secretTempDir('kubelet');
  const kubelet = installAs(binary, path.join(dir, 'bin'), 'kubelet');
  const etc = path.join(dir, 'etc');
  mkdirSync(etc);
  const port = await freePort();
  const apiserverPort = 16443;
  // Outside the namespace etc/ stays empty: only the kubelet's own view has the kubeconfig.
  const script = `mount -t tmpfs tmpfs '${etc}' && printf 'clusters:\\n- cluster:\\n    server: https://10.0.0.1:${apiserverPort}\\n' > '${etc}/kubelet.conf' && exec '${kubelet}' --port=${port} --kubeconfig='${etc}/kubelet.conf'`;
  const { process: ns } = await startProcess('unshare', ['--mount', '--propagation', 'private', '--kill-child', 'sh', '-c', script], { ready: /^ready$/m });
  try {
    const choice = await resolvePreset('kubelet');
    assert.ok(choice.chosen.some((c) => c.exePath === kubelet), `the namespaced kubelet is chosen: ${JSON.stringify(choice)}`);
    assert.ok(choice.ports.includes(port), 'its own --port');
    assert.ok(choice.ports.includes(apiserverPort), 'the API server port from the kubeconfig inside its mount namespace');
  } finally {
    await ns.stop('SIGKILL');
  }
});
