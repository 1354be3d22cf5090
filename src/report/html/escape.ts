/**
 * Escaping for everything that comes from a capture (SNI, paths, user agents, certificate names). One
 * function serves text and double-quoted attribute contexts: the five HTML metacharacters become entities,
 * and characters that would hide or disguise text (C0/C1 controls, DEL, bidirectional overrides, zero-width
 * marks) become a visible `\xNN` / `\u{NNNN}` so the operator sees that they were there.
 */

const ENTITIES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

// Tab, LF and CR are ordinary whitespace in HTML; every other control character is shown, as are the
// Unicode format characters that reorder or hide text (Trojan Source, CVE-2021-42574).
const HIDDEN = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]/g;

const visible = (c: string): string => {
  const code = c.charCodeAt(0);
  return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u{${code.toString(16)}}`;
};

/** `value` as HTML text or as the content of a double-quoted attribute. */
export function esc(value: unknown): string {
  return String(value ?? '')
    .replace(/[&<>"']/g, (c) => ENTITIES[c]!)
    .replace(HIDDEN, visible);
}

/**
 * Escaped text that wraps only at spaces and after the separators of paths, names and lists
 * (`/ ? & = , ; :`, or those given), never inside a word: each piece between them is kept whole (browsers would otherwise
 * break "worker-old" after its hyphen), with a <wbr> after each separator.
 */
export function escWrap(value: unknown, after: RegExp = AFTER_SEPARATORS): string {
  return String(value ?? '')
    .split(/(\s+)/)
    .map((token) => (/^\s*$/.test(token) ? esc(token) : token.split(after).map(piece).join('<wbr>')))
    .join('');
}

const AFTER_SEPARATORS = /(?<=[/?&=,;:])/;
/** Distinguished names wrap between their attributes only ("O=system:masters,CN=admin"). */
export const AFTER_COMMAS = /(?<=,)/;

// Letters, digits, '_' and '.' offer no line break, nor does the separator a piece ends with (the <wbr>
// comes right after it); anything else might.
const piece = (p: string): string => (/^[\w.]*[/?&=,;:]?$/.test(p) ? esc(p) : `<span class="nw">${esc(p)}</span>`);
