import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { cliArgv } from './paths.js';

/** A long-running gokeylog command (keylog, capture) started by a test. */
export interface RunningCli {
  child: ChildProcess;
  /** Everything it wrote to stdout so far (binary: `capture -w -` writes pcapng there). */
  stdout(): Buffer;
  stderr(): string;
  /** Settles with the exit code, once its output has been read to the end (bounded: a grandchild may hold it). */
  exit: Promise<number | null>;
  /** Its exit code if it exits by itself within `ms`; otherwise it is killed and this fails, with what it said. */
  exitWithin(ms: number): Promise<number | null>;
  /** Sends `signal` and waits for the exit (SIGKILL and a failure if it hangs). */
  stop(signal: NodeJS.Signals): Promise<number | null>;
}

/** Starts `gokeylog ARGS…` and waits (bounded) until its stderr says it is ready. */
export async function startCli(args: string[], ready: RegExp): Promise<RunningCli> {
  const child = spawn(process.execPath, [...cliArgv(), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const out: Buffer[] = [];
  let err = '';
  child.stdout!.on('data', (d: Buffer) => out.push(d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
  let exited = false;
  const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => {
    exited = true;
    const timer = setTimeout(() => resolve(code), 2_000);
    child.once('close', () => {
      clearTimeout(timer);
      resolve(code);
    });
  }));
  for (let i = 0; i < 600 && !ready.test(err) && !exited; i++) await sleep(50);
  if (!ready.test(err)) {
    child.kill('SIGKILL');
    throw new Error(`gokeylog ${args[0]} did not become ready: ${err}`);
  }
  return {
    child,
    stdout: () => Buffer.concat(out),
    stderr: () => err,
    exit,
    async exitWithin(ms) {
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), ms)));
      const code = await Promise.race([exit, late]);
      clearTimeout(timer);
      if (code !== 'late') return code;
      child.kill('SIGKILL');
      await exit;
      assert.fail(`gokeylog ${args[0]} did not exit by itself within ${ms / 1000} s: ${err}`);
    },
    async stop(signal) {
      child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
      const code = await exit;
      clearTimeout(timer);
      assert.notEqual(code, null, `gokeylog ${args[0]} hung after ${signal}: ${err}`);
      return code;
    },
  };
}
