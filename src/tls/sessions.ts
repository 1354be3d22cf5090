/**
 * TLS 1.2 resumption: an abbreviated handshake reuses the master secret of an earlier full handshake, and
 * Go logs no key for it. Remembering master secrets by session ID and by session ticket (as Wireshark does)
 * lets such connections decrypt when the full handshake is in the same capture or run.
 */
export class Tls12SessionCache {
  readonly #secrets = new Map<string, Uint8Array>();
  readonly #maxEntries: number;

  constructor(maxEntries: number = 100_000) {
    this.#maxEntries = maxEntries;
  }

  /** Remembers `masterSecret` under a session ID or ticket (ignored when empty). */
  remember(id: Uint8Array, masterSecret: Uint8Array): void {
    if (id.length === 0) return;
    const key = Buffer.from(id).toString('latin1');
    if (this.#secrets.size >= this.#maxEntries && !this.#secrets.has(key)) this.#secrets.delete(this.#secrets.keys().next().value!);
    this.#secrets.set(key, masterSecret);
  }

  find(id: Uint8Array): Uint8Array | undefined {
    return id.length === 0 ? undefined : this.#secrets.get(Buffer.from(id).toString('latin1'));
  }
}
