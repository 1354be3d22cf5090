import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync } from 'node:fs';
import { hostname } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import tls from 'node:tls';
import { cacheDir } from '../../src/util/cache.js';
import type { NodeStatus } from '../../src/status/status.js';
import { isRoot, requireOrSkip } from '../support/env.js';
import { lookalike, startUnderWrapper } from '../support/lookalike.js';
import { repoRoot } from '../support/paths.js';
import { secretTempDir } from '../support/pki.js';
import { freePort, runProcess } from '../support/traffic.js';

const BASE = (): string => path.join(cacheDir(), 'deploy', 'image-base');

/** deploy/Dockerfile's instructions, continuations joined, comments dropped (as scripts/setup-deploy.sh reads them). */
function dockerfileSteps(): string[] {
  const text = readFileSync(path.join(repoRoot(), 'deploy', 'Dockerfile'), 'utf8').split('\n').filter((l) => !/^\s*#/.test(l)).join('\n');
  return text.replace(/\\\n/g, '').split('\n').map((l) => l.trim()).filter(Boolean);
}

function run(command: string, args: string[]): string {
  const r = spawnSync(command, args, { encoding: 'utf8', timeout: 300_000 });
  assert.equal(r.status, 0, `${command} ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

/**
 * `sh -c SCRIPT` in a chroot of `root`, in a private mount namespace with /proc and /dev (and more mounts).
 * Asynchronous: the test's own connection must keep talking while gokeylog runs.
 */
async function inChroot(root: string, script: string, options: { hostPid?: boolean } = {}): Promise<string> {
  // --pid --fork with the host's /proc mounted: the view a hostPID pod has; without, a fresh /proc.
  const proc = options.hostPid ? 'mount --rbind /proc "$1/proc"' : 'mount -t proc proc "$1/proc"';
  const setup = `${proc} && mount --rbind /dev "$1/dev" && mount --rbind /sys/kernel/tracing "$1/sys/kernel/tracing" && exec chroot "$1" /bin/sh -c "$2"`;
  const r = await runProcess('unshare', ['--mount', ...(options.hostPid ? ['--pid', '--fork'] : ['--fork']), 'sh', '-c', setup, 'sh', root, script], { timeoutMs: 300_000 });
  assert.equal(r.code, 0, `${script}: ${r.stderr}`);
  return r.stdout;
}

test('the Dockerfile builds without a daemon, and its gokeylog inspects and lists a host process from a separate mount and PID view', async (t) => {
  if (!requireOrSkip(t, isRoot(), 'overlay mounts and chroot need root')) return;
  if (!requireOrSkip(t, existsSync(path.join(BASE(), '.stamp')), 'no image base in the cache (run scripts/setup.sh --tests)')) return;
  const binary = await lookalike(t);
  if (!binary) return;
  const dir = secretTempDir('image');
  // The build context: `npm pack` of this tree (scripts off: dist/ is already built, and tests run from it).
  const context = path.join(dir, 'context');
  mkdirSync(context);
  run('npm', ['pack', '--ignore-scripts', '--silent', '--pack-destination', context, repoRoot()]);
  // The image: an overlay on the cached base layers, so the cache is never changed.
  const [upper, work, merged] = ['upper', 'work', 'merged'].map((d) => path.join(dir, d));
  for (const d of [upper!, work!, merged!]) mkdirSync(d);
  run('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${BASE()},upperdir=${upper},workdir=${work}`, merged!]);
  // Where the pod mounts the host's tracefs.
  mkdirSync(path.join(merged!, 'sys', 'kernel', 'tracing'), { recursive: true });
  const port = await freePort();
  const apiserver = await startUnderWrapper(binary, path.join(dir, 'host'), 'kube-apiserver', [`--secure-port=${port}`]);
  try {
    const steps = dockerfileSteps();
    const firstCopy = steps.findIndex((s) => s.startsWith('COPY '));
    assert.ok(firstCopy > 0, 'the Dockerfile has a COPY');
    let entrypoint: string[] = [];
    for (const step of steps.slice(firstCopy)) {
      const [instruction, ...rest] = step.split(/\s+/);
      const args = step.slice(instruction!.length).trim();
      if (instruction === 'COPY') {
        const dest = path.join(merged!, rest.at(-1)!);
        const pattern = new RegExp(`^${rest[0]!.replace(/[.]/g, '\\.').replace(/\*/g, '.*')}$`);
        const sources = readdirSync(context).filter((f) => pattern.test(f));
        assert.equal(sources.length, 1, `COPY ${rest[0]} matches one file of the context`);
        copyFileSync(path.join(context, sources[0]!), path.join(dest, sources[0]!));
      } else if (instruction === 'RUN') {
        await inChroot(merged!, args);
      } else if (instruction === 'ENTRYPOINT') {
        entrypoint = JSON.parse(args) as string[];
      } else {
        assert.ok(['CMD'].includes(instruction!), `an instruction this test knows: ${instruction}`);
      }
    }
    assert.deepEqual(entrypoint, ['gokeylog']);
    // Only the runtime: no compiler, no BPF toolchain.
    for (const tool of ['gcc', 'go', 'clang', 'bpftrace']) assert.ok(!existsSync(path.join(merged!, 'usr', 'bin', tool)), `${tool} is not in the image`);

    const inspect = JSON.parse(await inChroot(merged!, `gokeylog inspect --pid ${apiserver.serverPid} --json`, { hostPid: true })) as { writeKeyLog: { validated: boolean } };
    assert.equal(inspect.writeKeyLog.validated, true);
    const status = JSON.parse(await inChroot(merged!, 'gokeylog status --json', { hostPid: true })) as NodeStatus;
    const row = status.components.find((c) => c.pid === apiserver.serverPid);
    assert.ok(row?.hookable, `the host's API server is listed and hookable from the image: ${JSON.stringify(status)}`);
    assert.deepEqual(row.ports, [port]);
    // A live TLS connection to the host's server, talking during the sweep: conns in the image must list it.
    const peer = tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false });
    await once(peer, 'secureConnect');
    const talk = setInterval(() => peer.write('x'), 100);
    peer.on('data', () => undefined);
    try {
      const conns = JSON.parse(await inChroot(merged!, `gokeylog conns --pid ${apiserver.serverPid} --json --sweep 10`, { hostPid: true })) as { node: string; connections: Array<{ peer: string; local: string; status: string; tlsVersion: string | null; peerProcess: { pid: number } | null }> };
      assert.equal(conns.node, hostname(), 'the output names its node');
      const mine = conns.connections.find((c) => c.peer === `127.0.0.1:${peer.localPort}`);
      assert.ok(mine, `the test's connection (port ${peer.localPort}) is listed: ${JSON.stringify(conns)}`);
      assert.equal(mine.status, 'tls');
      assert.equal(mine.tlsVersion, 'TLS 1.3');
      assert.equal(mine.local, `127.0.0.1:${port}`);
      assert.equal(mine.peerProcess?.pid, process.pid, 'the peer named by its host pid, as ss -p would');
    } finally {
      clearInterval(talk);
      peer.destroy();
    }
  } finally {
    await apiserver.stop('SIGKILL');
    spawnSync('umount', ['-l', merged!]);
  }
});
