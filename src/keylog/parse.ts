import { CLIENT_RANDOM_LENGTH, isKeyLogLabel, validateKeyEvent, type KeyLogEntry } from './entry.js';
import { hexToBytes } from './hex.js';
import { isMidstreamLine, parseMidstreamLine, type MidstreamSecret } from './midstream.js';

export interface KeyLogParseError {
  /** 1-based line number. */
  line: number;
  message: string;
}

export interface ParsedKeyLog {
  entries: KeyLogEntry[];
  /** `# GOKEYLOG_MIDSTREAM` lines (comments to every other reader). */
  midstream: MidstreamSecret[];
  errors: KeyLogParseError[];
}

const LABEL = /^[A-Z][A-Z0-9_]*$/;

/**
 * Parse NSS key log text. Bad lines are reported, never thrown, so one damaged line does not lose the
 * rest of the file. Labels we do not know (newer TLS libraries add some) are kept if the line is well formed,
 * as Wireshark does; known labels are held to their exact lengths. Comment lines are skipped, except
 * gokeylog's mid-stream secrets (src/keylog/midstream.ts).
 */
export function parseKeyLog(text: string): ParsedKeyLog {
  const entries: KeyLogEntry[] = [];
  const midstream: MidstreamSecret[] = [];
  const errors: KeyLogParseError[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (isMidstreamLine(line)) {
      const result = parseMidstreamLine(line);
      if (typeof result === 'string') errors.push({ line: i + 1, message: result });
      else midstream.push(result);
      continue;
    }
    if (line === '' || line.startsWith('#')) continue;
    const result = parseLine(line);
    if (typeof result === 'string') errors.push({ line: i + 1, message: result });
    else entries.push(result);
  }
  return { entries, midstream, errors };
}

function parseLine(line: string): KeyLogEntry | string {
  const fields = line.split(/\s+/);
  if (fields.length !== 3) return `expected "LABEL CLIENT_RANDOM SECRET", found ${fields.length} fields`;
  const [label, randomHex, secretHex] = fields as [string, string, string];
  if (!LABEL.test(label)) return `invalid label ${JSON.stringify(label.slice(0, 40))}`;
  const clientRandom = hexToBytes(randomHex);
  if (!clientRandom) return 'client random is not hex';
  const secret = hexToBytes(secretHex);
  if (!secret || secret.length === 0) return 'secret is not hex';
  if (isKeyLogLabel(label)) {
    const why = validateKeyEvent(label, clientRandom, secret);
    if (why) return why;
  } else if (clientRandom.length !== CLIENT_RANDOM_LENGTH) {
    return `client random is ${clientRandom.length} bytes, expected ${CLIENT_RANDOM_LENGTH}`;
  }
  return { label, clientRandom, secret };
}
