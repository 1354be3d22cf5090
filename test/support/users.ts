import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { cleanupOnExit } from './pki.js';

/** An unprivileged local user of its own for one test file (useradd; root only), deleted when the process exits. */
export interface OtherUser {
  name: string;
  uid: number;
  /** Runs a shell command as this user, the way an attacker on the node would. */
  sh(command: string): string;
}

export function createOtherUser(): OtherUser {
  const name = `gkltest${process.pid}`;
  execFileSync('useradd', ['--system', '--no-create-home', '--shell', '/bin/sh', name]);
  cleanupOnExit(() => void execFileSync('userdel', [name], { stdio: 'ignore' }));
  const uid = Number(execFileSync('id', ['-u', name], { encoding: 'utf8' }).trim());
  return { name, uid, sh: (command) => execFileSync('runuser', ['-u', name, '--', 'sh', '-c', command], { encoding: 'utf8' }) };
}

/** A world-writable sticky directory like /tmp (mode 1777), removed when the process exits. */
export function stickyTempDir(prefix: string): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), `${prefix}-`));
  chmodSync(dir, 0o1777);
  cleanupOnExit(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}
