import type { Endpoint } from '../net/index.js';
import { formatKeyLogLine, type KeyLogEntry } from './entry.js';
import { bytesToHex } from './hex.js';
import { formatMidstreamLine, type MidstreamDirection, type MidstreamSecret } from './midstream.js';

/**
 * A set of key log entries keyed by client random + label: the probe uses it to drop the duplicates a
 * re-entered uprobe produces, TLS decryption to look secrets up. Insertion order is kept for output.
 * Mid-stream secrets (no client random: keyed by addresses and direction) are kept beside them.
 */
export class KeyLog {
  readonly #byKey = new Map<string, KeyLogEntry>();
  readonly #midstream = new Map<string, MidstreamSecret[]>();
  #midstreamCount = 0;

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

  /** Adds a mid-stream secret; false if the same secret at the same sequence number is already there. */
  addMidstream(s: MidstreamSecret): boolean {
    const key = midstreamKey(s.client, s.server, s.direction);
    const list = this.#midstream.get(key) ?? [];
    if (list.some((o) => o.seq === s.seq && Buffer.from(o.secret).equals(s.secret))) return false;
    list.push(s);
    this.#midstream.set(key, list);
    this.#midstreamCount += 1;
    return true;
  }

  /** The mid-stream secrets of one direction of the connection between these endpoints, oldest read first. */
  midstream(client: Endpoint, server: Endpoint, direction: MidstreamDirection): MidstreamSecret[] {
    const list = this.#midstream.get(midstreamKey(client, server, direction)) ?? [];
    return [...list].sort((a, b) => (a.timeNs < b.timeNs ? -1 : a.timeNs > b.timeNs ? 1 : 0));
  }

  midstreamEntries(): IterableIterator<MidstreamSecret> {
    return [...this.#midstream.values()].flat().values();
  }

  get midstreamSize(): number {
    return this.#midstreamCount;
  }

  /** Key log text, one line per entry, each ending in a newline: the NSS lines, then the mid-stream ones. */
  toText(): string {
    let text = '';
    for (const e of this.#byKey.values()) text += `${formatKeyLogLine(e)}\n`;
    for (const s of this.midstreamEntries()) text += `${formatMidstreamLine(s)}\n`;
    return text;
  }
}

function midstreamKey(client: Endpoint, server: Endpoint, direction: MidstreamDirection): string {
  return `${client.ip} ${client.port} ${server.ip} ${server.port} ${direction}`;
}

function keyOf(clientRandom: Uint8Array, label: string): string {
  return `${bytesToHex(clientRandom)} ${label}`;
}
