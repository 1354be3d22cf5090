import { bytesToHex } from '../keylog/index.js';

/** How many recent keys are remembered: far more than can arrive between a key and its duplicate. */
const DEFAULT_CAPACITY = 100_000;

/**
 * The keys seen lately, to drop duplicates: a re-entered uprobe (stack growth) and a process that is both
 * client and server of a connection log the same line within moments. Unlike a KeyLog, which keeps every
 * key, this forgets the oldest ones, so that a capture of a busy API server can run for days.
 */
export class RecentKeys {
  readonly #seen = new Set<string>();
  readonly #capacity: number;

  constructor(capacity = DEFAULT_CAPACITY) {
    this.#capacity = capacity;
  }

  /** True if the key is new (and now remembered), false if it was seen lately. */
  add(label: string, clientRandom: Uint8Array, secret: Uint8Array): boolean {
    const key = identity(label, clientRandom, secret);
    if (this.#seen.has(key)) return false;
    this.#seen.add(key);
    // A Set iterates in insertion order: its first element is the oldest.
    if (this.#seen.size > this.#capacity) this.#seen.delete(this.#seen.values().next().value!);
    return true;
  }
}

let scratch = Buffer.allocUnsafe(256);

/**
 * A key's identity as a compact string: the lengths of label and random, then label, random and secret one
 * character per byte (latin1), made in one conversion. Half the size of hex, and these strings are what the
 * set keeps alive.
 */
function identity(label: string, clientRandom: Uint8Array, secret: Uint8Array): string {
  if (label.length > 0xff || clientRandom.length > 0xff) return `${label} ${bytesToHex(clientRandom)} ${bytesToHex(secret)}`;
  const size = 2 + label.length + clientRandom.length + secret.length;
  if (scratch.length < size) scratch = Buffer.allocUnsafe(size);
  scratch[0] = label.length;
  scratch[1] = clientRandom.length;
  const at = 2 + scratch.write(label, 2, 'latin1');
  scratch.set(clientRandom, at);
  scratch.set(secret, at + clientRandom.length);
  return scratch.toString('latin1', 0, size);
}
