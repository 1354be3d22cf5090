import assert from 'node:assert/strict';
import { copyFileSync, existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { startKeyCapture, type KeyCaptureOptions, type KeyCaptureStats, type KeyEvent, type TargetSpec } from '../../src/probe/index.js';
import { formatKeyLogLine } from '../../src/keylog/index.js';
import { TRACEFS } from '../../src/probe/tracefs.js';
import { isRoot, requireOrSkip } from '../support/env.js';
import { loadFixtures, type GoFixture } from '../support/fixtures.js';
import { secretTempDir } from '../support/pki.js';
import { spawnChecked } from '../support/traffic.js';


/** Root and tracefs uprobes: what every probing test needs. */
export function requireProbing(t: TestContext): boolean {
  return requireOrSkip(t, isRoot() && existsSync(path.join(TRACEFS, 'uprobe_events')), 'needs root and tracefs uprobe_events');
}

/** The lines of an NSS key log, as a set (order and duplicates do not matter). */
export function keyLogSet(text: string): Set<string> {
  return new Set(text.split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#')));
}

export const readKeyLogSet = (file: string): Set<string> => keyLogSet(readFileSync(file, 'utf8'));

export interface Captured<T> {
  result: T;
  keys: KeyEvent[];
  rejects: string[];
  stats: KeyCaptureStats;
  /** The extracted keys as NSS lines. */
  lines: Set<string>;
}

/**
 * Runs `body` while a key capture session is on, then stops it. `until` (optional) is waited for before
 * stopping, for backends whose output trails the probe hits (bpftrace); the wait is bounded, never asserted on.
 */
export async function captureDuring<T>(
  spec: Partial<TargetSpec>,
  options: KeyCaptureOptions,
  body: () => Promise<T>,
  until?: (lines: Set<string>, result: T) => boolean,
): Promise<Captured<T>> {
  const session = await startKeyCapture({ pids: [], exes: [], processes: [], ...spec }, options);
  const keys: KeyEvent[] = [];
  const rejects: string[] = [];
  session.on('key', (e) => keys.push(e));
  session.on('reject', (why) => rejects.push(why));
  const lines = (): Set<string> => new Set(keys.map(formatKeyLogLine));
  let stats: KeyCaptureStats;
  let result: T;
  try {
    result = await body();
    for (let i = 0; until && !until(lines(), result) && i < 200; i++) await sleep(50);
  } finally {
    stats = await session.stop();
  }
  assert.deepEqual(leftovers(process.pid), [], 'stop() removed every probe and the trace instance');
  return { result, keys, rejects, stats, lines: lines() };
}

/** uprobe events and trace instances of the run with process id `pid` still in tracefs. */
export function leftovers(pid: number): string[] {
  const ours = new RegExp(`^gokeylog_${pid}_\\d+_\\d+(_s\\d+)?$`);
  const events = readFileSync(path.join(TRACEFS, 'uprobe_events'), 'utf8').split('\n').filter((l) => ours.test(l.slice(2).split('/')[0]!));
  const instances = readdirSync(path.join(TRACEFS, 'instances')).filter((name) => ours.test(name)).map((name) => `instances/${name}`);
  return [...events, ...instances];
}

/** The HTTP/2 :path values tshark sees in a capture when given a key log (the referee for our keys). */
export async function tsharkHttp2Paths(pcap: string, keyLog: Set<string>, dir: string): Promise<string[]> {
  const keyFile = path.join(dir, `tshark-${process.hrtime.bigint()}.keylog`);
  writeFileSync(keyFile, [...keyLog].join('\n') + '\n', { mode: 0o600 });
  const { stdout } = await spawnChecked('tshark', ['-n', '-r', pcap, '-o', `tls.keylog_file:${keyFile}`, '-Y', 'http2.headers.path', '-T', 'fields', '-e', 'http2.headers.path']);
  return stdout.split('\n').flatMap((l) => l.split(',')).filter((l) => l !== '');
}

/** Whether every line of `subset` is in `set`, with a readable diff when not. */
export function missingFrom(subset: Set<string>, set: Set<string>): string[] {
  return [...subset].filter((l) => !set.has(l)).map((l) => l.slice(0, 60));
}

/**
 * A private copy of a binary (same name, new inode). A probe on an executable fires in every process that
 * runs it, and other tests may run the shared fixture at the same time: a copy keeps their keys out.
 */
export function privateCopy<T extends { path: string }>(binary: T, name = path.basename(binary.path)): T {
  const copy = path.join(secretTempDir('bin'), name);
  copyFileSync(binary.path, copy);
  return { ...binary, path: copy };
}

/** Root, tracefs, and the newest stripped amd64 server (a private copy) and client. */
export function probingFixtures(t: TestContext): { server: GoFixture; client: GoFixture } | undefined {
  if (!requireProbing(t)) return undefined;
  const server = loadFixtures({ program: 'tlsserver', arch: 'amd64', mode: 'exe', stripped: true }).at(-1);
  const client = loadFixtures({ program: 'tlsclient', arch: 'amd64', mode: 'exe', stripped: true }).at(-1);
  if (!requireOrSkip(t, server !== undefined && client !== undefined, 'no stripped amd64 fixtures (run scripts/setup.sh)')) return undefined;
  return { server: privateCopy(server!), client: client! };
}

/** Pids of every descendant of `pid`, now (from /proc/PID/task/PID/children). */
export function descendants(pid: number): number[] {
  const out: number[] = [];
  const queue = [pid];
  while (queue.length > 0) {
    const p = queue.shift()!;
    let children: number[] = [];
    try {
      children = readFileSync(`/proc/${p}/task/${p}/children`, 'utf8').trim().split(' ').filter(Boolean).map(Number);
    } catch {
      // gone meanwhile
    }
    out.push(...children);
    queue.push(...children);
  }
  return out;
}
