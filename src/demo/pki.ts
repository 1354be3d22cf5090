import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { GokeylogError } from '../util/errors.js';
import { DAY_MS } from '../report/index.js';

const execFileAsync = promisify(execFile);

export type KeyType = 'ecdsa' | 'rsa';

export interface ClientCertOptions {
  cn: string;
  /** Subject O values: Kubernetes reads them as the user's groups. */
  orgs?: string[];
  /**
   * Validity from now, in days: fractional for hours (47.5 / 24 expires in 47 h 30 min); negative: a
   * certificate that expired that many days ago (valid for the day before).
   */
  days?: number;
}

export interface CertPair {
  cert: string;
  key: string;
}

/** A throwaway PKI made with openssl: file paths, all 0600 inside `dir`. */
export interface Pki {
  dir: string;
  keyType: KeyType;
  caCert: string;
  caKey: string;
  /** Valid for 127.0.0.1 and localhost. */
  serverCert: string;
  serverKey: string;
  makeClientCert(options: ClientCertOptions): Promise<CertPair>;
}

async function openssl(args: string[]): Promise<void> {
  try {
    await execFileAsync('openssl', args, { timeout: 30_000 });
  } catch (error) {
    const stderr = (error as { stderr?: string }).stderr ?? '';
    throw new GokeylogError(`openssl ${args[0]} failed: ${stderr.trim() || String(error)}`, 'GOKEYLOG_ERR_TOOL');
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
  ca: Pick<Pki, 'dir' | 'keyType' | 'caCert' | 'caKey'>,
  name: string,
  subj: string,
  extensions: string[],
  days: number,
): Promise<CertPair> {
  const key = path.join(ca.dir, `${name}.key`);
  const csr = path.join(ca.dir, `${name}.csr`);
  const cert = path.join(ca.dir, `${name}.crt`);
  const ext = path.join(ca.dir, `${name}.ext`);
  await generateKey(key, ca.keyType);
  await openssl(['req', '-new', '-key', key, '-subj', subj, '-out', csr]);
  writeFileSync(ext, extensions.join('\n') + '\n', { mode: 0o600 });
  if (days > 0 && Number.isInteger(days)) {
    // A random serial (not -CAcreateserial) so concurrent issues do not race on a serial file.
    const serial = `0x${randomBytes(8).toString('hex')}`;
    await openssl([
      'x509', '-req', '-in', csr, '-CA', ca.caCert, '-CAkey', ca.caKey, '-set_serial', serial,
      '-days', String(days), '-sha256', '-extfile', ext, '-out', cert,
    ]);
  } else {
    await signWithDates(ca, csr, ext, cert, days);
  }
  rmSync(csr);
  rmSync(ext);
  onlyOwnerCanRead(ca.dir);
  return { cert, key };
}

/** openssl's ASN.1 GeneralizedTime: 20261130120000Z. */
const asn1Time = (ms: number): string => new Date(ms).toISOString().replace(/[-:T]/g, '').replace(/\.\d+/, '');

/**
 * Sign a certificate valid until `days` days from now (negative: ended that long ago), from a day before that
 * or before now, whichever is earlier. `openssl x509 -req` cannot set dates in OpenSSL 3.0, `openssl ca`
 * can: it gets a throwaway database of its own in a scratch directory.
 */
async function signWithDates(ca: Pick<Pki, 'dir' | 'caCert' | 'caKey'>, csr: string, ext: string, cert: string, days: number): Promise<void> {
  const db = mkdtempSync(path.join(ca.dir, 'ca-db-'));
  try {
    writeFileSync(path.join(db, 'index.txt'), '', { mode: 0o600 });
    writeFileSync(path.join(db, 'serial'), `${randomBytes(8).toString('hex')}\n`, { mode: 0o600 });
    const config = path.join(db, 'ca.cnf');
    const lines = ['[ca]', 'default_ca = throwaway', '[throwaway]', `database = ${db}/index.txt`, `serial = ${db}/serial`,
      `new_certs_dir = ${db}`, 'policy = any', 'unique_subject = no', '[any]', 'commonName = supplied', 'organizationName = optional'];
    writeFileSync(config, `${lines.join('\n')}\n`, { mode: 0o600 });
    const notAfter = Date.now() + days * DAY_MS;
    await openssl([
      'ca', '-batch', '-config', config, '-cert', ca.caCert, '-keyfile', ca.caKey, '-in', csr, '-out', cert,
      '-startdate', asn1Time(Math.min(notAfter, Date.now()) - DAY_MS), '-enddate', asn1Time(notAfter),
      // -preserveDN: the subject as requested (O before CN), not reordered by the policy.
      '-preserveDN', '-notext', '-md', 'sha256', '-extfile', ext,
    ]);
  } finally {
    rmSync(db, { recursive: true, force: true });
  }
}

/**
 * A CA and a server certificate in `dir` (which the caller made 0700); client certificates on demand, with
 * the subject Kubernetes reads identities from (CN = user, O = groups).
 */
export async function createPki(dir: string, keyType: KeyType = 'ecdsa'): Promise<Pki> {
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
  const ca = { dir, keyType, caCert, caKey };
  const leafUsage = keyType === 'ecdsa' ? 'digitalSignature' : 'digitalSignature,keyEncipherment';
  let clientCount = 0;
  const makeClientCert = ({ cn, orgs = [], days = 3 }: ClientCertOptions): Promise<CertPair> =>
    issue(
      ca,
      `client-${++clientCount}`,
      subject([...orgs.map((o): [string, string] => ['O', o]), ['CN', cn]]),
      ['basicConstraints=critical,CA:FALSE', `keyUsage=critical,${leafUsage}`, 'extendedKeyUsage=clientAuth'],
      days,
    );
  const server = await issue(
    ca,
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
  onlyOwnerCanRead(dir);
  return { ...ca, serverCert: server.cert, serverKey: server.key, makeClientCert };
}
