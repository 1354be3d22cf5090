/**
 * Text that came off the wire (SNI, paths, user agents, header values, certificate names) is shown escaped:
 * an ESC or OSC sequence in a user agent must not move the cursor, retitle the window or hide lines, and a
 * CR must not overwrite what was printed before it (issue 12). C0 and C1 controls, DEL and the Unicode
 * bidirectional overrides become visible `\xNN` / `\u{NNNN}` escapes.
 */
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

const NAMED: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t', '\u001b': '\\e' };

export function escapeControl(text: string): string {
  UNSAFE.lastIndex = 0;
  if (!UNSAFE.test(text)) return text;
  return text.replace(UNSAFE, (c) => {
    const named = NAMED[c];
    if (named) return named;
    const code = c.charCodeAt(0);
    return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u{${code.toString(16)}}`;
  });
}

/** escapeControl for text of several lines: each line escaped, the line breaks kept. */
export function escapeControlLines(text: string): string {
  return text.split('\n').map(escapeControl).join('\n');
}
