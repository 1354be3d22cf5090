/**
 * Stand-ins for control-plane components (test/fixtures/go/lookalike): a Go TLS server that takes the port
 * flags of kube-apiserver, kubelet and etcd, run under the component's name, optionally under a wrapper shell.
 */
import { chmodSync, copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { TestContext } from 'node:test';
import { cacheDir } from '../../src/util/cache.js';
import { requireOrSkip } from './env.js';
import { goToolchains } from './fixtures.js';
import { repoRoot } from './paths.js';
import { secretTempDir } from './pki.js';
import { spawnChecked, startProcess, type RunningProcess } from './traffic.js';

let built: Promise<string> | undefined;

/** The lookalike fixture, built once with the newest toolchain (sharing the fixtures' build cache), or undefined (skipped) before setup. */
export async function lookalike(t: TestContext): Promise<string | undefined> {
  const toolchain = goToolchains().at(-1);
  if (!requireOrSkip(t, toolchain !== undefined, 'no Go toolchain in the cache (run npm run setup)')) return undefined;
  built ??= (async () => {
    const out = path.join(secretTempDir('lookalike'), 'lookalike');
    await spawnChecked(toolchain!.go, ['build', '-o', out, './lookalike'], {
      cwd: path.join(repoRoot(), 'test', 'fixtures', 'go'),
      env: { ...process.env, CGO_ENABLED: '0', GOTOOLCHAIN: 'local', GOPROXY: 'off', GOFLAGS: '', GO111MODULE: 'on', GOWORK: 'off', GOENV: 'off', GOCACHE: path.join(cacheDir(), 'gocache', toolchain!.version) },
      timeoutMs: 300_000,
    });
    return out;
  })();
  return built;
}

/** A copy of `binary` under `dir/name`, so that comm and argv[0] name the component. */
export function installAs(binary: string, dir: string, name: string): string {
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, name);
  copyFileSync(binary, file);
  chmodSync(file, 0o755);
  return file;
}

function childrenOf(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

export interface WrappedServer extends RunningProcess {
  /** The lookalike's own pid; `child` is the wrapper shell. */
  serverPid: number;
}

/**
 * `binary` installed as `dir/real/NAME`, started by a shell script `dir/bin/NAME` that stays its parent (an
 * entrypoint without exec): two processes with the component's name, one of them not Go.
 */
export async function startUnderWrapper(binary: string, dir: string, name: string, args: string[]): Promise<WrappedServer> {
  const real = installAs(binary, path.join(dir, 'real'), name);
  const wrapper = path.join(dir, 'bin', name);
  mkdirSync(path.dirname(wrapper), { recursive: true });
  writeFileSync(wrapper, `#!/bin/sh\n"${real}" "$@"\n`, { mode: 0o755 });
  const { process: shell } = await startProcess(wrapper, args, { ready: /^ready$/m });
  const serverPid = childrenOf(shell.child.pid!)[0];
  if (serverPid === undefined) {
    await shell.stop('SIGKILL');
    throw new Error(`the wrapper ${wrapper} started no server`);
  }
  return {
    ...shell,
    serverPid,
    // Killing a shell does not kill what it started: the server first.
    async stop(signal, timeoutMs) {
      try {
        process.kill(serverPid, 'SIGKILL');
      } catch {
        // already gone
      }
      return shell.stop(signal, timeoutMs);
    },
  };
}
