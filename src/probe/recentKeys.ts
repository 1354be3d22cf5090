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
    const key = `${label} ${bytesToHex(clientRandom)} ${bytesToHex(secret)}`;
    if (this.#seen.has(key)) return false;
    this.#seen.add(key);
    // A Set iterates in insertion order: its first element is the oldest.
    if (this.#seen.size > this.#capacity) this.#seen.delete(this.#seen.values().next().value!);
    return true;
  }
}
