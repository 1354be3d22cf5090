import type { TestContext } from 'node:test';

/**
 * Skip a test whose precondition is missing, saying why. In CI (CI=true) a missing precondition is a
 * failure instead: CI installs everything, so a skip there would hide a broken setup.
 */
export function requireOrSkip(t: TestContext, ok: boolean, reason: string): boolean {
  if (ok) return true;
  if (process.env.CI === 'true' || process.env.CI === '1') {
    throw new Error(`precondition missing in CI: ${reason}`);
  }
  t.skip(reason);
  return false;
}

export const isRoot = (): boolean => process.getuid?.() === 0;
