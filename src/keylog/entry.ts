import { bytesToHex } from './hex.js';

/** The NSS key log labels that Go's crypto/tls writes, plus the TLS 1.3 ones it does not (other libraries do). */
export type KeyLogLabel =
  | 'CLIENT_RANDOM'
  | 'CLIENT_HANDSHAKE_TRAFFIC_SECRET'
  | 'SERVER_HANDSHAKE_TRAFFIC_SECRET'
  | 'CLIENT_TRAFFIC_SECRET_0'
  | 'SERVER_TRAFFIC_SECRET_0'
  | 'EXPORTER_SECRET'
  | 'CLIENT_EARLY_TRAFFIC_SECRET';

/** One line of an NSS key log. `label` is a string so that labels we do not know still pass through. */
export interface KeyLogEntry {
  label: string;
  clientRandom: Uint8Array;
  secret: Uint8Array;
}

export const KEY_LOG_LABELS: readonly KeyLogLabel[] = [
  'CLIENT_RANDOM',
  'CLIENT_HANDSHAKE_TRAFFIC_SECRET',
  'SERVER_HANDSHAKE_TRAFFIC_SECRET',
  'CLIENT_TRAFFIC_SECRET_0',
  'SERVER_TRAFFIC_SECRET_0',
  'EXPORTER_SECRET',
  'CLIENT_EARLY_TRAFFIC_SECRET',
];

export const CLIENT_RANDOM_LENGTH = 32;
/** TLS 1.2 master secret. */
const MASTER_SECRET_LENGTH = 48;
/** TLS 1.3 secrets are one hash long: SHA-256 (32) or SHA-384 (48). */
const TLS13_SECRET_LENGTHS = [32, 48];

export function isKeyLogLabel(label: string): label is KeyLogLabel {
  return (KEY_LOG_LABELS as readonly string[]).includes(label);
}

/** Why a key event cannot be a key log line, or null if it can. */
export function validateKeyEvent(label: string, clientRandom: Uint8Array, secret: Uint8Array): string | null {
  if (!isKeyLogLabel(label)) return `unknown label ${JSON.stringify(label)}`;
  if (clientRandom.length !== CLIENT_RANDOM_LENGTH) {
    return `client random is ${clientRandom.length} bytes, expected ${CLIENT_RANDOM_LENGTH}`;
  }
  if (label === 'CLIENT_RANDOM') {
    if (secret.length !== MASTER_SECRET_LENGTH) {
      return `CLIENT_RANDOM secret is ${secret.length} bytes, expected ${MASTER_SECRET_LENGTH}`;
    }
  } else if (!TLS13_SECRET_LENGTHS.includes(secret.length)) {
    return `${label} secret is ${secret.length} bytes, expected 32 or 48`;
  }
  return null;
}

/** `LABEL <client random hex> <secret hex>`, lowercase, without a newline. */
export function formatKeyLogLine(e: KeyLogEntry): string {
  return `${e.label} ${bytesToHex(e.clientRandom)} ${bytesToHex(e.secret)}`;
}
