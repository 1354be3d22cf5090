import type { TlsAlert } from './types.js';
/** TLS alert descriptions (RFC 8446 6, RFC 5246 7.2), by code, as Wireshark and Go name them. */
const ALERT_NAMES: Record<number, string> = {
  0: 'close_notify', 10: 'unexpected_message', 20: 'bad_record_mac', 21: 'decryption_failed', 22: 'record_overflow',
  30: 'decompression_failure', 40: 'handshake_failure', 41: 'no_certificate', 42: 'bad_certificate',
  43: 'unsupported_certificate', 44: 'certificate_revoked', 45: 'certificate_expired', 46: 'certificate_unknown',
  47: 'illegal_parameter', 48: 'unknown_ca', 49: 'access_denied', 50: 'decode_error', 51: 'decrypt_error',
  60: 'export_restriction', 70: 'protocol_version', 71: 'insufficient_security', 80: 'internal_error',
  86: 'inappropriate_fallback', 90: 'user_canceled', 100: 'no_renegotiation', 109: 'missing_extension',
  110: 'unsupported_extension', 111: 'certificate_unobtainable', 112: 'unrecognized_name',
  113: 'bad_certificate_status_response', 114: 'bad_certificate_hash_value', 115: 'unknown_psk_identity',
  116: 'certificate_required', 120: 'no_application_protocol',
};

export const CLOSE_NOTIFY = 0;
const FATAL = 2;

export function alertName(code: number): string {
  return ALERT_NAMES[code] ?? `alert ${code}`;
}

/** Level and description of an alert record's body; null when it is not two bytes long. */
export function parseAlert(body: Uint8Array): { fatal: boolean; code: number } | null {
  if (body.length !== 2) return null;
  return { fatal: body[0] === FATAL, code: body[1]! };
}

/** The report's view of an alert record (null for close_notify and malformed bodies). */
export function describeAlert(body: Uint8Array, from: TlsAlert['from'], duringHandshake: boolean): TlsAlert | null {
  const alert = parseAlert(body);
  if (!alert || alert.code === CLOSE_NOTIFY) return null;
  return { from, fatal: alert.fatal, description: alertName(alert.code), duringHandshake };
}
