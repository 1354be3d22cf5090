import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createPki, type KeyType, type Pki } from '../../src/demo/pki.js';

export type { CertPair, ClientCertOptions, KeyType } from '../../src/demo/pki.js';

/**
 * The PKI the tests share (made with openssl by src/demo/pki.ts): files 0600 inside a 0700 directory that is
 * removed when the process exits.
 */
export interface TestPki extends Pki {
  /** CN=system:node:test-node, O=system:nodes, valid 3 days (a certificate "about to expire"). */
  clientCert: string;
  clientKey: string;
}

let signalsExit = false;

/**
 * Run `cleanup` when the process exits, also when it is stopped by SIGINT/SIGTERM (the test runner's
 * timeout), so that no secret file or child process outlives the tests. `cleanup` must be synchronous.
 */
export function cleanupOnExit(cleanup: () => void): void {
  process.on('exit', cleanup);
  if (signalsExit) return;
  signalsExit = true;
  for (const [signal, code] of [['SIGINT', 130], ['SIGTERM', 143]] as const) {
    process.once(signal, () => process.exit(code));
  }
}

let scratchRoot: string | undefined;

/** A fresh 0700 directory for secrets (keys, key logs, captures), removed when the process exits. */
export function secretTempDir(prefix: string): string {
  if (scratchRoot === undefined) {
    const root = mkdtempSync(path.join(os.tmpdir(), 'gokeylog-test-'));
    chmodSync(root, 0o700);
    cleanupOnExit(() => rmSync(root, { recursive: true, force: true }));
    scratchRoot = root;
  }
  const dir = mkdtempSync(path.join(scratchRoot, `${prefix}-`));
  chmodSync(dir, 0o700);
  return dir;
}

async function createTestPki(keyType: KeyType): Promise<TestPki> {
  const pki = await createPki(secretTempDir(`pki-${keyType}`), keyType);
  const node = await pki.makeClientCert({ cn: 'system:node:test-node', orgs: ['system:nodes'], days: 3 });
  return { ...pki, clientCert: node.cert, clientKey: node.key };
}

const pkis = new Map<KeyType, Promise<TestPki>>();

/**
 * The test PKI, created once per process and key type with openssl. ECDSA P-256 by default; RSA for the
 * TLS 1.2 suites that need an RSA-signed server certificate.
 */
export function testPki(options: { keyType?: KeyType } = {}): Promise<TestPki> {
  const keyType = options.keyType ?? 'ecdsa';
  let pki = pkis.get(keyType);
  if (pki === undefined) {
    pki = createTestPki(keyType);
    pkis.set(keyType, pki);
  }
  return pki;
}
