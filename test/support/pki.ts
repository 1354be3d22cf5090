import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

export type KeyType = 'ecdsa' | 'rsa';

export interface ClientCertOptions {
  cn: string;
  /** Subject O values: Kubernetes reads them as the user's groups. */
  orgs?: string[];
  days?: number;
}

export interface CertPair {
  cert: string;
  key: string;
}

/** A throwaway PKI: file paths, all 0600 inside a 0700 directory that is removed when the process exits. */
export interface TestPki {
  dir: string;
  keyType: KeyType;
  caCert: string;
  caKey: string;
  /** Valid for 127.0.0.1 and localhost. */
  serverCert: string;
  serverKey: string;
  /** CN=system:node:test-node, O=system:nodes, valid 3 days (a certificate "about to expire"). */
  clientCert: string;
  clientKey: string;
  makeClientCert(options: ClientCertOptions): Promise<CertPair>;
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

async function openssl(args: string[]): Promise<void> {
  try {
    await execFileAsync('openssl', args, { timeout: 30_000 });
  } catch (error) {
    const stderr = (error as { stderr?: string }).stderr ?? '';
    throw new Error(`openssl ${args[0]} failed: ${stderr.trim() || String(error)}`);
  }
}

async function generateKey(file: string, keyType: KeyType): Promise<void> {
  const algorithm =
    keyType === 'ecdsa'
      ? ['-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256']
      : ['-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048'];
  await openssl(['genpkey', ...algorithm, '-out', file]);
}

/** An openssl -subj string; '/' inside a value must be escaped. */
function subject(parts: [string, string][]): string {
  return parts.map(([type, value]) => `/${type}=${value.replaceAll('/', '\\/')}`).join('');
}

function onlyOwnerCanRead(dir: string): void {
  for (const name of readdirSync(dir)) chmodSync(path.join(dir, name), 0o600);
}

/** Issue a leaf certificate signed by the CA, with the given subject and X.509 extensions. */
async function issue(
  pki: Pick<TestPki, 'dir' | 'keyType' | 'caCert' | 'caKey'>,
  name: string,
  subj: string,
  extensions: string[],
  days: number,
): Promise<CertPair> {
  const key = path.join(pki.dir, `${name}.key`);
  const csr = path.join(pki.dir, `${name}.csr`);
  const cert = path.join(pki.dir, `${name}.crt`);
  const ext = path.join(pki.dir, `${name}.ext`);
  await generateKey(key, pki.keyType);
  await openssl(['req', '-new', '-key', key, '-subj', subj, '-out', csr]);
  writeFileSync(ext, extensions.join('\n') + '\n', { mode: 0o600 });
  // A random serial (not -CAcreateserial) so concurrent issues do not race on a serial file.
  const serial = `0x${randomBytes(8).toString('hex')}`;
  await openssl([
    'x509', '-req', '-in', csr, '-CA', pki.caCert, '-CAkey', pki.caKey, '-set_serial', serial,
    '-days', String(days), '-sha256', '-extfile', ext, '-out', cert,
  ]);
  rmSync(csr);
  rmSync(ext);
  onlyOwnerCanRead(pki.dir);
  return { cert, key };
}

async function createPki(keyType: KeyType): Promise<TestPki> {
  const dir = secretTempDir(`pki-${keyType}`);
  const caKey = path.join(dir, 'ca.key');
  const caCert = path.join(dir, 'ca.crt');
  await generateKey(caKey, keyType);
  await openssl([
    'req', '-x509', '-new', '-key', caKey, '-subj', subject([['CN', `gokeylog test CA (${keyType})`]]),
    '-days', '30', '-sha256',
    '-addext', 'basicConstraints=critical,CA:TRUE',
    '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
    '-out', caCert,
  ]);
  const base = { dir, keyType, caCert, caKey };
  const leafUsage = keyType === 'ecdsa' ? 'digitalSignature' : 'digitalSignature,keyEncipherment';
  let clientCount = 0;
  const makeClientCert = ({ cn, orgs = [], days = 3 }: ClientCertOptions): Promise<CertPair> =>
    issue(
      base,
      `client-${++clientCount}`,
      subject([...orgs.map((o): [string, string] => ['O', o]), ['CN', cn]]),
      ['basicConstraints=critical,CA:FALSE', `keyUsage=critical,${leafUsage}`, 'extendedKeyUsage=clientAuth'],
      days,
    );
  const server = await issue(
    base,
    'server',
    subject([['CN', 'localhost']]),
    [
      'basicConstraints=critical,CA:FALSE',
      `keyUsage=critical,${leafUsage}`,
      // clientAuth too, as kubeadm issues them: etcd's gRPC gateway dials etcd itself with the server cert.
      'extendedKeyUsage=serverAuth,clientAuth',
      'subjectAltName=IP:127.0.0.1,DNS:localhost',
    ],
    30,
  );
  const client = await makeClientCert({ cn: 'system:node:test-node', orgs: ['system:nodes'], days: 3 });
  onlyOwnerCanRead(dir);
  return {
    ...base,
    serverCert: server.cert,
    serverKey: server.key,
    clientCert: client.cert,
    clientKey: client.key,
    makeClientCert,
  };
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
    pki = createPki(keyType);
    pkis.set(keyType, pki);
  }
  return pki;
}
