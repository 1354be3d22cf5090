import { formatKeyLogLine, type KeyLogEntry } from './entry.js';
import { bytesToHex } from './hex.js';

/**
 * A set of key log entries keyed by client random + label: the probe uses it to drop the duplicates a
 * re-entered uprobe produces, TLS decryption to look secrets up. Insertion order is kept for output.
 */
export class KeyLog {
  readonly #byKey = new Map<string, KeyLogEntry>();

  /** Adds the entry; false if one with the same client random and label is already there (the first wins). */
  add(e: KeyLogEntry): boolean {
    const key = keyOf(e.clientRandom, e.label);
    if (this.#byKey.has(key)) return false;
    this.#byKey.set(key, e);
    return true;
  }

  get(clientRandom: Uint8Array, label: string): Uint8Array | undefined {
    return this.#byKey.get(keyOf(clientRandom, label))?.secret;
  }

  entries(): IterableIterator<KeyLogEntry> {
    return this.#byKey.values();
  }

  get size(): number {
    return this.#byKey.size;
  }

  /** NSS key log text, one line per entry, each ending in a newline. */
  toText(): string {
    let text = '';
    for (const e of this.#byKey.values()) text += `${formatKeyLogLine(e)}\n`;
    return text;
  }
}

function keyOf(clientRandom: Uint8Array, label: string): string {
  return `${bytesToHex(clientRandom)} ${label}`;
}
