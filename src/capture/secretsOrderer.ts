/**
 * Puts live packets and live keys into one pcapng order in which every Decryption Secrets Block comes before
 * the first packet that needs its keys (tshark 4.0 decrypts nothing otherwise).
 *
 * Policy (pure: the caller passes the time in):
 * - A key batch becomes one DSB at once, whatever connection it belongs to.
 * - A packet of a TLS connection whose ClientHello was seen (including the ClientHello itself) while its key
 *   set is incomplete is HELD. Complete means CLIENT_RANDOM (TLS 1.2) or all four TLS 1.3 traffic secrets.
 * - Everything behind the first held packet waits behind it, so the file stays in capture (timestamp) order.
 *   The head is released when its keys are complete, after `holdMs`, or when the held bytes pass
 *   `maxHeldBytes`. A connection whose packet left without its keys is not held again (no stall per packet).
 * - Packets of connections with no ClientHello seen go out as they come (behind any held ones); a connection
 *   first seen without a SYN that carries TLS records was opened before the capture: counted, never dropped.
 * - While a sweep of the connections opened before runs (`awaitMidstream`, capture --midstream), packets of
 *   connections first seen without a SYN are held until its mid-stream lines come (`addMidstream`): analyze
 *   picks a joined connection's keys at its first bytes, so their DSB must come first. The sweep bounds the
 *   wait itself (it always ends with `addMidstream`, lines or none); only the memory cap lets them out sooner.
 */

/** What the orderer needs to know about a packet; the packet itself is opaque to it. */
export interface PacketFacts {
  /** Canonical TCP connection id (same for both directions), or null for non-TCP packets. */
  conn: string | null;
  syn: boolean;
  /** Hex client random when the segment starts with a ClientHello. */
  clientRandom: string | null;
  /** The TCP payload starts with a TLS record header. */
  tlsRecord: boolean;
  /** Captured size, for the memory cap. */
  bytes: number;
}

/** One key as the orderer sees it: `line` is the NSS key log line without its newline. */
export interface OrderedKey {
  label: string;
  clientRandom: string;
  line: string;
}

export type OrderedBlock<P> = { kind: 'secrets'; keyLog: string } | { kind: 'packet'; packet: P };

export interface SecretsOrdererOptions {
  holdMs: number;
  maxHeldBytes: number;
}

export interface OrdererStats {
  packets: number;
  /** Packets that had to wait for keys (the ones behind them not counted). */
  packetsHeld: number;
  /** Packets that left without their keys (hold time or memory cap). */
  packetsReleasedWithoutKeys: number;
  keys: number;
  secretsBlocks: number;
  /** TLS connections whose ClientHello was seen and whose keys all arrived in time. */
  connectionsDecryptable: number;
  /** TLS connections whose ClientHello was seen but whose keys did not all arrive in time. */
  connectionsKeysMissing: number;
  /** TLS connections already open when the capture started (no SYN, no ClientHello seen). */
  connectionsOpenedBefore: number;
  /** `# GOKEYLOG_MIDSTREAM` lines written (the secrets of connections opened before, from a sweep). */
  midstreamLines: number;
}

const TLS13_LABELS = ['CLIENT_HANDSHAKE_TRAFFIC_SECRET', 'SERVER_HANDSHAKE_TRAFFIC_SECRET', 'CLIENT_TRAFFIC_SECRET_0', 'SERVER_TRAFFIC_SECRET_0'];

/** Connections and client randoms remembered at most (oldest forgotten first). */
const MAX_TRACKED = 1 << 16;

type ConnState =
  /** No ClientHello yet: packets pass. */
  | { kind: 'open'; sawSyn: boolean }
  | { kind: 'tls'; clientRandom: string; outcome: 'pending' | 'keyed' | 'missing' }
  | { kind: 'openedBefore' };

interface Held<P> {
  packet: P;
  conn: string | null;
  bytes: number;
  /** When the packet arrived, and whether it needed keys then. */
  arrivedAt: number;
  needsKeys: boolean;
}

export class SecretsOrderer<P> {
  readonly #opts: SecretsOrdererOptions;
  readonly #conns = new Map<string, ConnState>();
  /** client random → labels written so far. */
  readonly #labels = new Map<string, Set<string>>();
  #queue: Held<P>[] = [];
  #queueHead = 0;
  #heldBytes = 0;
  /** A sweep for the connections opened before runs: their packets wait for its lines. */
  #awaitingMidstream = false;
  readonly #stats: OrdererStats = {
    packets: 0, packetsHeld: 0, packetsReleasedWithoutKeys: 0, keys: 0, secretsBlocks: 0,
    connectionsDecryptable: 0, connectionsKeysMissing: 0, connectionsOpenedBefore: 0, midstreamLines: 0,
  };

  constructor(opts: SecretsOrdererOptions) {
    this.#opts = opts;
  }

  get stats(): Readonly<OrdererStats> {
    return this.#stats;
  }

  /** Packets waiting now. */
  get held(): number {
    return this.#queue.length - this.#queueHead;
  }

  /** When the head of the queue must leave at the latest (null when nothing waits for keys, or it waits for the sweep). */
  get deadline(): number | null {
    const head = this.#queue[this.#queueHead];
    if (head && head.needsKeys && this.#waitsForSweep(head.conn)) return null;
    return head ? head.arrivedAt + this.#opts.holdMs : null;
  }

  /** From now until `addMidstream`, connections first seen without a SYN wait for the sweep's lines. */
  awaitMidstream(): void {
    this.#awaitingMidstream = true;
  }

  /** The sweep's mid-stream lines (maybe none) as one DSB, then the packets that waited for them. */
  addMidstream(lines: string[], now: number): OrderedBlock<P>[] {
    this.#awaitingMidstream = false;
    if (lines.length === 0) return this.release(now);
    this.#stats.midstreamLines += lines.length;
    this.#stats.secretsBlocks++;
    return [{ kind: 'secrets', keyLog: lines.map((l) => `${l}\n`).join('') }, ...this.release(now)];
  }

  addPacket(facts: PacketFacts, packet: P, now: number): OrderedBlock<P>[] {
    this.#stats.packets++;
    const needsKeys = facts.conn !== null && this.#track(facts.conn, facts);
    if (needsKeys) this.#stats.packetsHeld++;
    if (!needsKeys && this.held === 0) return [{ kind: 'packet', packet }];
    this.#queue.push({ packet, conn: facts.conn, bytes: facts.bytes, arrivedAt: now, needsKeys });
    this.#heldBytes += facts.bytes;
    return this.release(now);
  }

  /** One DSB for the batch (keys already written are dropped), then whatever it unblocks. */
  addKeys(keys: OrderedKey[], now: number): OrderedBlock<P>[] {
    let keyLog = '';
    for (const k of keys) {
      let labels = this.#labels.get(k.clientRandom);
      if (!labels) this.#remember(this.#labels, k.clientRandom, (labels = new Set()));
      if (labels.has(k.label)) continue;
      labels.add(k.label);
      keyLog += `${k.line}\n`;
      this.#stats.keys++;
    }
    if (keyLog === '') return this.release(now);
    this.#stats.secretsBlocks++;
    return [{ kind: 'secrets', keyLog }, ...this.release(now)];
  }

  /** Lets out the head of the queue for as long as it may go. Call it when `deadline` passes. */
  release(now: number): OrderedBlock<P>[] {
    const out: OrderedBlock<P>[] = [];
    for (let head = this.#queue[this.#queueHead]; head; head = this.#queue[this.#queueHead]) {
      const forSweep = head.needsKeys && this.#waitsForSweep(head.conn);
      const waiting = forSweep || (head.needsKeys && this.#stillWaiting(head.conn));
      if (waiting && (forSweep || now < head.arrivedAt + this.#opts.holdMs) && this.#heldBytes <= this.#opts.maxHeldBytes) break;
      if (waiting) this.#giveUp(head.conn);
      if (head.needsKeys && this.#outcome(head.conn) === 'missing') this.#stats.packetsReleasedWithoutKeys++;
      this.#shift();
      out.push({ kind: 'packet', packet: head.packet });
    }
    return out;
  }

  /** End of capture: everything still held goes out, in order. */
  finish(): OrderedBlock<P>[] {
    this.#awaitingMidstream = false;
    return this.release(Number.POSITIVE_INFINITY);
  }

  /** Updates the connection's state; true if this packet must wait for keys. */
  #track(conn: string, facts: PacketFacts): boolean {
    let state = this.#conns.get(conn);
    if (facts.clientRandom !== null && (state?.kind !== 'tls' || state.clientRandom !== facts.clientRandom)) {
      // A ClientHello starts (or, seen mid-way, adopts) a TLS connection: its keys will come from the probe.
      state = { kind: 'tls', clientRandom: facts.clientRandom, outcome: 'pending' };
      this.#remember(this.#conns, conn, state);
      if (this.#complete(facts.clientRandom)) this.#settle(state, 'keyed');
    } else if (!state) {
      state = { kind: 'open', sawSyn: facts.syn };
      this.#remember(this.#conns, conn, state);
    }
    if (state.kind === 'open' && !state.sawSyn && facts.tlsRecord) {
      this.#conns.set(conn, { kind: 'openedBefore' });
      this.#stats.connectionsOpenedBefore++;
    }
    if (this.#waitsForSweep(conn)) return true;
    return state.kind === 'tls' && state.outcome === 'pending' && !this.#complete(state.clientRandom);
  }

  /** A connection opened before the capture (first seen without a SYN) while the sweep for its lines runs. */
  #waitsForSweep(conn: string | null): boolean {
    if (!this.#awaitingMidstream || conn === null) return false;
    const state = this.#conns.get(conn);
    return state?.kind === 'openedBefore' || (state?.kind === 'open' && !state.sawSyn);
  }

  #stillWaiting(conn: string | null): boolean {
    const state = conn === null ? undefined : this.#conns.get(conn);
    if (state?.kind !== 'tls' || state.outcome !== 'pending') return false;
    if (!this.#complete(state.clientRandom)) return true;
    this.#settle(state, 'keyed');
    return false;
  }

  #outcome(conn: string | null): 'pending' | 'keyed' | 'missing' | undefined {
    const state = conn === null ? undefined : this.#conns.get(conn);
    return state?.kind === 'tls' ? state.outcome : undefined;
  }

  #giveUp(conn: string | null): void {
    const state = conn === null ? undefined : this.#conns.get(conn);
    if (state?.kind === 'tls' && state.outcome === 'pending') this.#settle(state, 'missing');
  }

  #settle(state: ConnState & { kind: 'tls' }, outcome: 'keyed' | 'missing'): void {
    state.outcome = outcome;
    if (outcome === 'keyed') this.#stats.connectionsDecryptable++;
    else this.#stats.connectionsKeysMissing++;
  }

  #complete(clientRandom: string): boolean {
    const labels = this.#labels.get(clientRandom);
    return labels !== undefined && (labels.has('CLIENT_RANDOM') || TLS13_LABELS.every((l) => labels.has(l)));
  }

  /** Adds to a per-connection map, forgetting the oldest entry past the cap: a long capture keeps flat memory. */
  #remember<V>(map: Map<string, V>, key: string, value: V): void {
    map.set(key, value);
    if (map.size > MAX_TRACKED) map.delete(map.keys().next().value!);
  }

  #shift(): void {
    const head = this.#queue[this.#queueHead]!;
    this.#heldBytes -= head.bytes;
    this.#queueHead++;
    // Compact now and then instead of shifting the array for every packet.
    if (this.#queueHead > 1024 && this.#queueHead * 2 > this.#queue.length) {
      this.#queue = this.#queue.slice(this.#queueHead);
      this.#queueHead = 0;
    }
  }
}
