/** The cipher suites we decrypt, and the names of the others we may meet. */

export type BulkCipher = 'aes-128-gcm' | 'aes-256-gcm' | 'chacha20-poly1305' | 'aes-128-cbc' | 'aes-256-cbc' | 'des-ede3-cbc';
export type HashName = 'sha256' | 'sha384';
export type MacHash = 'sha1' | 'sha256' | 'sha384';

/** HMAC output length of each record MAC. */
export const MAC_LENGTH: Record<MacHash, number> = { sha1: 20, sha256: 32, sha384: 48 };

export interface CipherSuite {
  code: number;
  name: string;
  tls13: boolean;
  /** null: we know its name but cannot decrypt it (RC4, CCM, …). */
  cipher: BulkCipher | null;
  /** PRF hash (1.2) or HKDF hash (1.3). */
  hash: HashName;
  /** Record MAC for CBC suites (1.2). */
  mac: MacHash | null;
}

const suite = (
  code: number,
  name: string,
  cipher: BulkCipher | null,
  hash: HashName = 'sha256',
  mac: CipherSuite['mac'] = null,
): CipherSuite => ({ code, name, tls13: code >> 8 === 0x13, cipher, hash, mac });

const SUITES: CipherSuite[] = [
  suite(0x1301, 'TLS_AES_128_GCM_SHA256', 'aes-128-gcm'),
  suite(0x1302, 'TLS_AES_256_GCM_SHA384', 'aes-256-gcm', 'sha384'),
  suite(0x1303, 'TLS_CHACHA20_POLY1305_SHA256', 'chacha20-poly1305'),
  suite(0x1304, 'TLS_AES_128_CCM_SHA256', null),
  suite(0x0005, 'TLS_RSA_WITH_RC4_128_SHA', null),
  suite(0x000a, 'TLS_RSA_WITH_3DES_EDE_CBC_SHA', 'des-ede3-cbc', 'sha256', 'sha1'),
  suite(0x002f, 'TLS_RSA_WITH_AES_128_CBC_SHA', 'aes-128-cbc', 'sha256', 'sha1'),
  suite(0x0035, 'TLS_RSA_WITH_AES_256_CBC_SHA', 'aes-256-cbc', 'sha256', 'sha1'),
  suite(0x003c, 'TLS_RSA_WITH_AES_128_CBC_SHA256', 'aes-128-cbc', 'sha256', 'sha256'),
  suite(0x003d, 'TLS_RSA_WITH_AES_256_CBC_SHA256', 'aes-256-cbc', 'sha256', 'sha256'),
  suite(0x009c, 'TLS_RSA_WITH_AES_128_GCM_SHA256', 'aes-128-gcm'),
  suite(0x009d, 'TLS_RSA_WITH_AES_256_GCM_SHA384', 'aes-256-gcm', 'sha384'),
  suite(0xc007, 'TLS_ECDHE_ECDSA_WITH_RC4_128_SHA', null),
  suite(0xc009, 'TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA', 'aes-128-cbc', 'sha256', 'sha1'),
  suite(0xc00a, 'TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA', 'aes-256-cbc', 'sha256', 'sha1'),
  suite(0xc011, 'TLS_ECDHE_RSA_WITH_RC4_128_SHA', null),
  suite(0xc012, 'TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA', 'des-ede3-cbc', 'sha256', 'sha1'),
  suite(0xc013, 'TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA', 'aes-128-cbc', 'sha256', 'sha1'),
  suite(0xc014, 'TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA', 'aes-256-cbc', 'sha256', 'sha1'),
  suite(0xc023, 'TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256', 'aes-128-cbc', 'sha256', 'sha256'),
  suite(0xc024, 'TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384', 'aes-256-cbc', 'sha384', 'sha384'),
  suite(0xc027, 'TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256', 'aes-128-cbc', 'sha256', 'sha256'),
  suite(0xc028, 'TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384', 'aes-256-cbc', 'sha384', 'sha384'),
  suite(0xc02b, 'TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256', 'aes-128-gcm'),
  suite(0xc02c, 'TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384', 'aes-256-gcm', 'sha384'),
  suite(0xc02f, 'TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256', 'aes-128-gcm'),
  suite(0xc030, 'TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384', 'aes-256-gcm', 'sha384'),
  suite(0xcca8, 'TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256', 'chacha20-poly1305'),
  suite(0xcca9, 'TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256', 'chacha20-poly1305'),
];

const BY_CODE = new Map(SUITES.map((s) => [s.code, s]));

export function findCipherSuite(code: number): CipherSuite | undefined {
  return BY_CODE.get(code);
}

/** The IANA name, or "0x…" for a code we do not know. */
export function cipherSuiteName(code: number): string {
  return BY_CODE.get(code)?.name ?? `0x${code.toString(16).padStart(4, '0')}`;
}

export const KEY_LENGTH: Record<BulkCipher, number> = {
  'aes-128-gcm': 16,
  'aes-256-gcm': 32,
  'chacha20-poly1305': 32,
  'aes-128-cbc': 16,
  'aes-256-cbc': 32,
  'des-ede3-cbc': 24,
};
