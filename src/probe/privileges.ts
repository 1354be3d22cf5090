/**
 * Whether this process may hook other programs: tracefs uprobes need CAP_SYS_ADMIN, reading another user's
 * /proc/PID/exe and memory needs CAP_SYS_PTRACE; root has both. Read from /proc/self/status (CapEff), which
 * is the kernel's own answer, also inside containers that drop capabilities from root.
 */
import { readFileSync } from 'node:fs';

const CAP_SYS_PTRACE = 19n;
const CAP_SYS_ADMIN = 21n;

/** The capabilities that are missing, by name; empty when hooking is allowed. */
export function missingHookCapabilities(status = readSelfStatus()): string[] {
  const m = /^CapEff:\s*([0-9a-f]+)$/m.exec(status);
  if (!m) return [];
  const effective = BigInt(`0x${m[1]}`);
  const missing: string[] = [];
  if (!((effective >> CAP_SYS_ADMIN) & 1n)) missing.push('CAP_SYS_ADMIN');
  if (!((effective >> CAP_SYS_PTRACE) & 1n)) missing.push('CAP_SYS_PTRACE');
  return missing;
}

function readSelfStatus(): string {
  try {
    return readFileSync('/proc/self/status', 'utf8');
  } catch {
    return '';
  }
}

/** The sentence for a user without them. */
export function needRootMessage(missing: string[]): string {
  return `hooking other programs needs root (tracefs uprobes need CAP_SYS_ADMIN, reading other processes CAP_SYS_PTRACE) and this process lacks ${missing.join(' and ')}: run gokeylog with sudo.`;
}
