/** Which HTTP version a decrypted connection speaks: ALPN when negotiated, else its first client bytes. */
import { CLIENT_PREFACE } from './frames.js';
import type { HttpProtocol } from './exchange.js';

export function detectHttpProtocol(alpn: string | undefined, firstClientBytes: Uint8Array): HttpProtocol | null {
  if (alpn === 'h2') return 'h2';
  if (alpn === 'http/1.1' || alpn === 'http/1.0') return 'http/1.1';
  const n = Math.min(firstClientBytes.length, CLIENT_PREFACE.length);
  if (n > 0 && CLIENT_PREFACE.subarray(0, n).equals(firstClientBytes.subarray(0, n))) return 'h2';
  // An HTTP/1.x request starts with a method token and a space.
  const head = Buffer.from(firstClientBytes.subarray(0, 16)).toString('latin1');
  if (/^[A-Z]{3,10} /.test(head)) return 'http/1.1';
  return null;
}
