import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { cacheDir } from '../../src/util/cache.js';
import { requireOrSkip } from '../support/env.js';
import { cliArgv, repoRoot } from '../support/paths.js';
import { secretTempDir } from '../support/pki.js';

const DEPLOY = path.join(repoRoot(), 'deploy');
const manifests = (): string[] => readdirSync(DEPLOY).filter((f) => f.endsWith('.yaml')).map((f) => path.join(DEPLOY, f));
const checker = (): string => path.join(cacheDir(), 'deploy', 'manifestcheck');

interface Decoded {
  kind?: string;
  metadata: { name: string; namespace?: string };
  spec?: Record<string, any>;
  automountServiceAccountToken?: boolean;
}

/** Every document of the files, decoded strictly into k8s.io/api types by manifestcheck (the referee). */
function decode(files: string[]): { code: number | null; objects: Decoded[]; stderr: string } {
  const r = spawnSync(checker(), files, { encoding: 'utf8' });
  return { code: r.status, objects: r.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Decoded), stderr: r.stderr };
}

test('every manifest in deploy/ decodes strictly into the real Kubernetes API types', (t) => {
  if (!requireOrSkip(t, existsSync(checker()), 'no manifestcheck in the cache (run scripts/setup.sh --tests)')) return;
  const { code, objects, stderr } = decode(manifests());
  assert.equal(code, 0, stderr);
  // Round-tripped through the Go types: only fields the API knows survive, in the places it puts them.
  const names = objects.map((o) => `${o.metadata.namespace ?? ''}/${o.metadata.name}`).sort();
  assert.deepEqual(names, ['/gokeylog', 'gokeylog/gokeylog', 'gokeylog/gokeylog', 'gokeylog/gokeylog-node'].sort());
});

test('manifestcheck can fail: a misspelled field and a field in the wrong place are refused', (t) => {
  if (!requireOrSkip(t, existsSync(checker()), 'no manifestcheck in the cache (run scripts/setup.sh --tests)')) return;
  const dir = secretTempDir('manifests');
  const daemonset = readFileSync(path.join(DEPLOY, 'daemonset.yaml'), 'utf8');
  const misspelled = path.join(dir, 'misspelled.yaml');
  writeFileSync(misspelled, daemonset.replace('hostPID: true', 'hostPid: true'));
  const bad = decode([misspelled]);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /unknown field "spec\.template\.spec\.hostPid"/);
  const misplaced = path.join(dir, 'misplaced.yaml');
  writeFileSync(misplaced, daemonset.replace('          imagePullPolicy: IfNotPresent\n', '          imagePullPolicy: IfNotPresent\n          hostNetwork: true\n'));
  assert.match(decode([misplaced]).stderr, /unknown field ".*containers\[0\]\.hostNetwork"/);
});

test('the DaemonSet and the Job: host PID and network, the minimal capabilities, tracefs and a private output folder, bounded resources, an end', (t) => {
  if (!requireOrSkip(t, existsSync(checker()), 'no manifestcheck in the cache (run scripts/setup.sh --tests)')) return;
  const { objects } = decode(manifests());
  const daemonset = objects.find((o) => o.kind === 'DaemonSet')!;
  const job = objects.find((o) => o.kind === 'Job')!;
  const account = objects.find((o) => o.kind === 'ServiceAccount')!;
  assert.equal(account.automountServiceAccountToken, false);
  for (const workload of [daemonset, job]) {
    const pod = workload.spec!.template.spec;
    assert.equal(pod.hostPID, true);
    assert.equal(pod.hostNetwork, true);
    assert.equal(pod.automountServiceAccountToken, false);
    const [container] = pod.containers;
    assert.deepEqual(container.securityContext.capabilities, { add: ['SYS_ADMIN', 'SYS_PTRACE', 'NET_RAW'], drop: ['ALL'] });
    assert.notEqual(container.securityContext.privileged, true);
    assert.equal(container.securityContext.readOnlyRootFilesystem, true);
    assert.ok(container.resources.limits.memory && container.resources.limits.cpu, 'limits');
    const mounts = Object.fromEntries(container.volumeMounts.map((m: { name: string; mountPath: string }) => [m.mountPath, m.name]));
    const volumes = Object.fromEntries(pod.volumes.map((v: { name: string; hostPath?: { path: string } }) => [v.name, v.hostPath?.path]));
    assert.equal(volumes[mounts['/sys/kernel/tracing']], '/sys/kernel/tracing');
    assert.equal(volumes[mounts['/out']], '/var/lib/gokeylog');
    const script: string = container.args.join('\n');
    assert.match(script, /umask 077/);
    assert.match(script, /chmod 0700 \/out/);
    assert.match(script, /--duration "\$DURATION"/, 'it ends by itself');
    assert.ok(pod.tolerations.length > 0, 'runs on control-plane nodes');
  }
  assert.deepEqual(daemonset.spec!.template.spec.nodeSelector, { 'node-role.kubernetes.io/control-plane': '' });
  assert.equal(job.spec!.template.spec.restartPolicy, 'Never');
  assert.equal(job.spec!.backoffLimit, 0);
  assert.ok(job.spec!.activeDeadlineSeconds > 0);
});

test('every gokeylog command line in the manifests uses commands and options the CLI has', () => {
  const lines = manifests().flatMap((f) => readFileSync(f, 'utf8').split('\n')).map((l) => l.trim()).filter((l) => l.startsWith('gokeylog '));
  assert.ok(lines.length >= 4, lines.join('\n'));
  for (const line of lines) {
    const [, command, ...rest] = line.split(/\s+/);
    const help = spawnSync(process.execPath, [...cliArgv(), command!, '--help'], { encoding: 'utf8' });
    assert.equal(help.status, 0, `gokeylog ${command} --help: ${help.stderr}`);
    for (const option of rest.filter((w) => /^--[a-z]/.test(w))) {
      assert.ok(help.stdout.includes(option.split('=')[0]!), `gokeylog ${command} has no ${option} (in: ${line})`);
    }
  }
});
