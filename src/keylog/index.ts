export { CLIENT_RANDOM_LENGTH, KEY_LOG_LABELS, formatKeyLogLine, isKeyLogLabel, validateKeyEvent } from './entry.js';
export type { KeyLogEntry, KeyLogLabel } from './entry.js';
export { bytesToHex, hexToBytes } from './hex.js';
export { KeyLog } from './keylog.js';
export { parseKeyLog } from './parse.js';
export type { KeyLogParseError, ParsedKeyLog } from './parse.js';
export { readKeyLogFiles } from './files.js';
export type { ReadKeyLogOptions } from './files.js';
export {
  MIDSTREAM_LINE_PREFIX,
  canonicalIp,
  formatMidstreamLine,
  formatRfc3339Ns,
  isMidstreamLine,
  parseEndpoint,
  parseMidstreamLine,
  parseRfc3339Ns,
  validateMidstreamSecret,
} from './midstream.js';
export type { MidstreamDirection, MidstreamSecret } from './midstream.js';
