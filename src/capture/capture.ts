import { hostname } from 'node:os';
import { bytesToHex, formatKeyLogLine } from '../keylog/index.js';
import { PcapngWriter, readCaptureBatches, type CaptureBlock, type PacketBlock } from '../pcap/index.js';
import { appendLines, startKeyCapture, type KeyCaptureSession, type KeyCaptureStats, type KeyEvent, type ProbeBackendName, type TargetSpec } from '../probe/index.js';
import { sweepMidstreamLines } from '../conns/index.js';
import { count } from '../util/count.js';
import { errnoReason, GokeylogError } from '../util/errors.js';
import { setLongTimeout } from '../util/longTimeout.js';
import { netnsOf } from '../probe/targets.js';
import { chooseNetns, netnsChoice, type NetnsChoice } from './netns.js';
import { packetFacts } from './packetFacts.js';
import { TargetTraffic } from './ownTraffic.js';
import { SecretsOrderer, type OrderedBlock, type OrderedKey, type OrdererStats } from './secretsOrderer.js';
import { checkFilter, Tcpdump, type TcpdumpStats } from './tcpdump.js';

export interface CaptureOptions {
  targets: TargetSpec;
  /** Where the pcapng goes (a file or stdout); ended when the capture ends. */
  output: NodeJS.WritableStream;
  /** Names the output in error messages (a path, "standard output"). */
  outputName: string;
  iface: string;
  /** A pcap filter for tcpdump; none = only the targets' own TCP traffic (see TargetTraffic). */
  filter?: string;
  /** Capture in our own network namespace instead of the targets'. */
  hostNetns: boolean;
  holdMs: number;
  maxHeldBytes: number;
  /** Stop after this long; otherwise when `signal` aborts. */
  durationMs?: number;
  /** Stops the capture (stoppedBy 'signal'); the probes are removed at once. The CLI aborts it on SIGINT/SIGTERM/SIGHUP. */
  signal?: AbortSignal;
  /** Also append each key line here (an fd opened 0600). */
  keyLogFd?: number;
  /** Sweep the targets' connections open at the start (as keylog --midstream) and write their mid-stream lines. */
  midstream?: boolean;
  backend?: ProbeBackendName;
  follow?: boolean;
  onNotice: (message: string) => void;
  /** Called once tcpdump and the probes are running, with the namespaces captured ("host" or which). */
  onReady?: (netns: string[]) => void;
  /** Told about every DROPS_POLL_MS while the capture runs: for a status line. */
  onStatus?: (status: CaptureStatus) => void;
}

export interface CaptureSummary {
  /** Each namespace captured in, one tcpdump and one interface of the pcapng each: "host" or which was entered. */
  netns: string[];
  iface: string;
  /** What was captured: the -f expression, or the targets' own TCP traffic. */
  filter: string;
  /** Packets tcpdump saw that belonged to no target's connection (default filter only; written nowhere). */
  packetsOfOtherProcesses: number;
  /** Summed over the tcpdumps (null where one did not say). */
  tcpdump: TcpdumpStats;
  ordering: OrdererStats;
  probe: KeyCaptureStats;
  bytesWritten: number;
  /** Why the capture ended. */
  stoppedBy: 'signal' | 'duration' | 'tcpdump exited' | 'output closed' | 'write error';
  /** The write that failed (a full disk: ENOSPC), as one sentence; the counts above are what was handed to the writer. */
  writeError?: string;
}

/**
 * Probes the targets' key logging and captures their traffic with tcpdump at the same time — one tcpdump per
 * network namespace of the targets — writing ONE pcapng in which each DSB precedes the packets it decrypts
 * (see SecretsOrderer). Packets of several namespaces are written in the order they arrive. Whatever happens,
 * the probes are removed and every tcpdump is stopped before this settles.
 */
export async function runCapture(opts: CaptureOptions): Promise<CaptureSummary> {
  if (opts.filter !== undefined) await checkFilter(opts.filter);
  const session = await startKeyCapture(opts.targets, { backend: opts.backend ?? 'tracefs', follow: opts.follow ?? false, onNotice: opts.onNotice, signal: opts.signal });
  const sources: Source[] = [];
  // Keys and a signal may come while tcpdump starts (after a signal the session has already removed its probes).
  let live: LiveCapture | undefined;
  let signalled = false;
  const earlyKeys: KeyEvent[] = [];
  session.on('key', (e) => (live ? live.addKey(e) : earlyKeys.push(e)));
  const onAbort = (): void => (live ? live.stop('signal') : void (signalled = true));
  opts.signal?.addEventListener('abort', onAbort, { once: true });
  if (opts.signal?.aborted) signalled = true;
  // The connections open now will show no handshake: the sweep (keylog --midstream's) reads their secrets.
  const sweepAbort = new AbortController();
  const swept = opts.midstream ? sweepMidstreamLines(session.targets.map((t) => t.pid), sweepAbort.signal, opts.onNotice) : undefined;
  try {
    if (session.targets.length === 0) opts.onNotice('no target process is running yet: capturing in the host network namespace');
    const traffic = opts.filter === undefined ? new TargetTraffic(() => session.targets.map((t) => t.pid)) : undefined;
    // Only a fixed set of processes (--pid, no --follow) has ports known now; targets found later may use any.
    const fixedTargets = opts.targets.exes.length === 0 && opts.targets.processes.length === 0 && !opts.follow;
    const bpf = traffic && (fixedTargets ? traffic.bpfFilter() : { filter: 'tcp', ports: new Set<number>() });
    const filter = opts.filter ?? bpf!.filter;
    for (const netns of chooseNetns(session.targets.map((t) => t.pid), opts.hostNetns)) {
      sources.push({ netns, tcpdump: await Tcpdump.start({ iface: opts.iface, filter, netnsPid: netns.pid }) });
    }
    live = new LiveCapture(opts, session, sources, filter, traffic && { traffic, ports: bpf!.ports }, swept && { lines: swept, abort: sweepAbort });
    for (const e of earlyKeys) live.addKey(e);
    if (signalled) live.stop('signal');
    else opts.onReady?.(sources.map((s) => s.netns.description));
    const stoppedBy = await live.run();
    const summary = await live.finish();
    return { netns: sources.map((s) => s.netns.description), iface: opts.iface, filter: describeFilter(opts, filter), stoppedBy, ...summary };
  } finally {
    opts.signal?.removeEventListener('abort', onAbort);
    // Also on failure: a tcpdump still starting in a new namespace sees this and stops at once.
    live?.stop('tcpdump exited');
    sweepAbort.abort();
    await swept;
    await Promise.all(sources.map((s) => s.tcpdump.stop()));
    await session.stop().catch((err: unknown) => opts.onNotice(`removing the probes failed: ${err instanceof Error ? err.message : String(err)}`));
  }
}

type StopReason = CaptureSummary['stoppedBy'];

export interface CaptureStatus {
  packets: number;
  keys: number;
  /** Packets the kernel dropped before tcpdump read them, as tcpdump last counted. */
  droppedByKernel: number;
}


/** What the capture holds, in words (the capture says it when it starts, and in its summary). */
export const describeFilter = (opts: Pick<CaptureOptions, 'filter'>, tcpdumpFilter?: string): string =>
  opts.filter !== undefined
    ? `-f ${JSON.stringify(opts.filter)}`
    : "the targets' own TCP traffic (their listening ports and connections, from /proc/PID/fd and /proc/PID/net/tcp*; -f overrides)" +
      (tcpdumpFilter ? `, tcpdump filter "${tcpdumpFilter}"` : '');

/** One tcpdump and the namespace it captures in. */
interface Source {
  netns: NetnsChoice;
  tcpdump: Tcpdump;
}

/** How often the targets' namespaces are checked: a target found later (--exe, --process, --follow) may be in a new one. */
const NETNS_POLL_MS = 250;
/** How often the default filter checks the targets' sockets for ports it leaves out. */
const PORTS_POLL_MS = 1000;
/** How often tcpdump is asked whether the kernel dropped packets. */
const DROPS_POLL_MS = 2000;

/** A packet on its way through the orderer, with the pcapng interface it is written on. */
interface HeldPacket {
  block: PacketBlock;
  interfaceId: number;
}

/** One running capture: packets from tcpdump and keys from the probe, through the orderer into the writer. */
class LiveCapture {
  readonly #opts: CaptureOptions;
  readonly #session: KeyCaptureSession;
  /** Shared with runCapture, which stops every tcpdump in it; grows when a target shows up in a new namespace. */
  readonly #sources: Source[];
  readonly #reading: Promise<void>[] = [];
  readonly #startingNetns = new Set<string>();
  /** Per source: its pcapng interface id, once tcpdump's pcap header has arrived. */
  readonly #interfaceIds: (number | undefined)[];
  #interfaces = 0;
  readonly #writer: PcapngWriter;
  readonly #orderer: SecretsOrderer<HeldPacket>;
  readonly #start = performance.now();
  #pendingKeys: OrderedKey[] = [];
  #keyFlush: NodeJS.Immediate | undefined;
  #releaseTimer: NodeJS.Timeout | undefined;
  #writeError: unknown;
  #stopReason: StopReason | undefined;
  #keyLogFailed = false;
  /** The default filter's judge; undefined with -f. */
  readonly #targetTraffic: TargetTraffic | undefined;
  #packetsOfOtherProcesses = 0;
  /** tcpdump's filter expression (every tcpdump of the capture has the same). */
  readonly #filter: string;
  /** Without -f: the ports tcpdump's filter keeps, and those already said to be outside it. */
  readonly #filterPorts: ReadonlySet<number>;
  readonly #toldOutside = new Set<number>();

  /** The start-up sweep's lines (--midstream), and how to end it early when the capture stops. */
  readonly #sweep: { lines: Promise<void>; abort: AbortController } | undefined;

  constructor(
    opts: CaptureOptions, session: KeyCaptureSession, sources: Source[], filter: string, own?: { traffic: TargetTraffic; ports: ReadonlySet<number> },
    sweep?: { lines: Promise<string[]>; abort: AbortController },
  ) {
    this.#opts = opts;
    this.#session = session;
    this.#sources = sources;
    this.#interfaceIds = sources.map(() => undefined);
    for (const s of sources) this.#startingNetns.add(s.netns.id);
    this.#orderer = new SecretsOrderer({ holdMs: opts.holdMs, maxHeldBytes: opts.maxHeldBytes });
    this.#targetTraffic = own?.traffic;
    this.#filter = filter;
    this.#filterPorts = own?.ports ?? new Set();
    this.#writer = new PcapngWriter(opts.output, { name: opts.outputName });
    // A write fails after write() returned (a full disk): the writer records it first (its listener came first),
    // and #drain turns it into the stop, even when no more packets come.
    opts.output.on('error', () => void this.#drain());
    // analyze names the node of a capture from this comment when several nodes' captures are merged.
    this.#writer.writeSectionHeader({ userAppl: 'gokeylog capture', comment: `node=${hostname()}` });
    if (sweep) {
      this.#orderer.awaitMidstream();
      const lines = sweep.lines.then((l) => this.#addMidstream(l)).catch((err: unknown) => void (this.#writeError ??= err));
      this.#sweep = { lines, abort: sweep.abort };
    }
  }

  /** Ends the capture (each tcpdump's output then ends); the first reason given is the one reported. */
  stop(why: StopReason): void {
    this.#stopReason ??= why;
    this.#sweep?.abort.abort();
    for (const s of this.#sources) void s.tcpdump.stop();
  }

  /** Reads packets until a stop condition; returns which one. */
  async run(): Promise<StopReason> {
    const timer = this.#opts.durationMs === undefined ? undefined : setLongTimeout(() => this.stop('duration'), this.#opts.durationMs);
    const watch = this.#opts.hostNetns ? undefined : setInterval(() => this.#watchNetns(), NETNS_POLL_MS);
    const ports = this.#targetTraffic && this.#filterPorts.size > 0 ? setInterval(() => this.#watchPorts(), PORTS_POLL_MS) : undefined;
    const drops = setInterval(() => this.#watchDrops(), DROPS_POLL_MS);
    try {
      this.#sources.forEach((_, i) => this.#reading.push(this.#read(i)));
      // Sources added meanwhile are appended: wait for them too.
      for (let i = 0; i < this.#reading.length; i++) await this.#reading[i];
    } finally {
      timer?.clear();
      clearInterval(watch);
      clearInterval(ports);
      clearInterval(drops);
    }
    return this.#stopReason ?? 'tcpdump exited';
  }

  #watchDrops(): void {
    const o = this.#orderer.stats;
    this.#opts.onStatus?.({ packets: o.packets, keys: o.keys, droppedByKernel: this.#sources.reduce((n, s) => n + s.tcpdump.dropped, 0) });
    for (const { netns, tcpdump } of this.#sources) {
      tcpdump.watchDrops((newly, total) => {
        const where = this.#sources.length > 1 ? ` in ${netns.description}` : '';
        this.#opts.onNotice(`the kernel dropped ${count(newly, 'packet')}${where} before tcpdump read ${newly === 1 ? 'it' : 'them'} (${total} so far): the capture misses traffic; narrow it with -f, or capture less at once`);
      });
    }
  }

  /** Says (once per port) when a target connects to a port its capture filter, fixed at start, leaves out. */
  #watchPorts(): void {
    for (const port of this.#targetTraffic!.portsOutside(this.#filterPorts)) {
      if (this.#toldOutside.has(port)) continue;
      this.#toldOutside.add(port);
      this.#opts.onNotice(`a target now uses port ${port}, outside this capture's filter (${this.#filter}): restart the capture to include it, or give -f`);
    }
  }

  /** Starts a tcpdump in each namespace a target runs in that has none yet. */
  #watchNetns(): void {
    for (const { pid } of this.#session.targets) {
      const id = netnsOf(pid);
      if (id === undefined || this.#startingNetns.has(id) || this.#stopReason !== undefined) continue;
      this.#startingNetns.add(id);
      const netns = netnsChoice(id, pid);
      Tcpdump.start({ iface: this.#opts.iface, filter: this.#filter, netnsPid: netns.pid }).then(
        (tcpdump) => {
          if (this.#stopReason !== undefined) return void tcpdump.stop();
          const index = this.#sources.push({ netns, tcpdump }) - 1;
          this.#interfaceIds.push(undefined);
          this.#reading.push(this.#read(index));
          this.#opts.onNotice(`capturing also in the ${netns.description} network namespace`);
        },
        (err: unknown) => this.#opts.onNotice(`cannot capture in the ${netns.description} network namespace: ${err instanceof Error ? err.message : String(err)}`),
      );
    }
  }

  /** Packets of one tcpdump until its output ends; a tcpdump that ends by itself ends the whole capture. */
  async #read(source: number): Promise<void> {
    const { tcpdump, netns } = this.#sources[source]!;
    const onTruncatedEnd = (bytes: number): void => this.#opts.onNotice(`the last ${bytes} bytes from tcpdump were an incomplete packet and were dropped`);
    for await (const batch of readCaptureBatches(tcpdump.output, { sourceName: 'tcpdump output', onTruncatedEnd })) {
      for (const block of batch) this.#onBlock(source, block);
      if (!(await this.#drain())) break;
    }
    // e.g. its interface went away: stop, but keep what we have.
    if (this.#stopReason === undefined) {
      this.#opts.onNotice(`tcpdump (${netns.description} network namespace) stopped unexpectedly: ${tcpdump.lastMessage}`);
      this.stop('tcpdump exited');
    }
  }

  /** After tcpdump has stopped: drains the probe's last keys, lets every held packet out, ends the file. */
  async finish(): Promise<Omit<CaptureSummary, 'netns' | 'iface' | 'filter' | 'stoppedBy'>> {
    const tcpdumpStats = sumStats(await Promise.all(this.#sources.map((s) => s.tcpdump.stop())));
    const probe = await this.#session.stop();
    // Its lines still go in ahead of the packets that waited for them.
    await this.#sweep?.lines;
    clearImmediate(this.#keyFlush);
    clearTimeout(this.#releaseTimer);
    this.#flushKeys();
    this.#emit(this.#orderer.finish());
    if (this.#writeError === undefined) {
      try {
        await this.#writer.end();
      } catch (err) {
        this.#writeError = err;
      }
    }
    // A failed write (a full disk) ends the capture like a signal would: with a summary, and the failure in it.
    const writeError = this.#writeError !== undefined && !isClosedPipe(this.#writeError) ? errorMessage(this.#writeError) : undefined;
    return { tcpdump: tcpdumpStats, packetsOfOtherProcesses: this.#packetsOfOtherProcesses, ordering: this.#orderer.stats, probe, bytesWritten: this.#writer.bytesWritten, ...(writeError ? { writeError } : {}) };
  }

  #now(): number {
    return performance.now() - this.#start;
  }

  #onBlock(source: number, block: CaptureBlock): void {
    if (block.kind === 'interface') {
      const netns = this.#sources[source]!.netns.description;
      const name = netns === 'host' ? this.#opts.iface : `${this.#opts.iface} (${netns})`;
      this.#writer.writeInterface({ linkType: block.linkType, snapLength: block.snapLength, tsResolution: block.tsResolution, name });
      this.#interfaceIds[source] = this.#interfaces++;
    } else if (block.kind === 'packet') {
      const interfaceId = this.#interfaceIds[source]!;
      const facts = packetFacts(block.linkType, block.data);
      if (this.#targetTraffic && !(facts.conn !== null && facts.endpoints && this.#targetTraffic.owns(facts.conn, ...facts.endpoints))) {
        this.#packetsOfOtherProcesses++;
        return;
      }
      // Two namespaces may both have 127.0.0.1:X ↔ 127.0.0.1:Y: connections are per interface.
      if (facts.conn !== null) facts.conn = `${interfaceId} ${facts.conn}`;
      this.#emit(this.#orderer.addPacket(facts, { block, interfaceId }, this.#now()));
    }
  }

  /** A key from the probe: to the key log file at once, and into the next DSB. */
  addKey(e: KeyEvent): void {
    const line = formatKeyLogLine(e);
    this.#appendKeyLog(line);
    this.#pendingKeys.push({ label: e.label, clientRandom: bytesToHex(e.clientRandom), line });
    // Keys of one handshake arrive together: one DSB for all that arrived in this turn of the event loop.
    this.#keyFlush ??= setImmediate(() => {
      this.#keyFlush = undefined;
      this.#flushKeys();
      void this.#drain();
    });
  }

  /** The sweep's mid-stream lines: to the key log file, and as one DSB ahead of the packets that waited for it. */
  #addMidstream(lines: string[]): void {
    for (const line of lines) this.#appendKeyLog(line);
    this.#emit(this.#orderer.addMidstream(lines, this.#now()));
    void this.#drain();
  }

  /** One write(2) per line, so a reader following the file never sees half a line. */
  #appendKeyLog(line: string): void {
    if (this.#opts.keyLogFd === undefined || this.#keyLogFailed) return;
    const { error } = appendLines(this.#opts.keyLogFd, `${line}\n`);
    if (error) {
      // The pcapng still gets every key: go on, but say the key log file stopped.
      this.#keyLogFailed = true;
      this.#opts.onNotice(`cannot write the key log (${errnoReason(error)}): its later keys are only in the capture`);
    }
  }

  #flushKeys(): void {
    if (this.#pendingKeys.length === 0) return;
    const keys = this.#pendingKeys;
    this.#pendingKeys = [];
    this.#emit(this.#orderer.addKeys(keys, this.#now()));
  }

  #emit(blocks: OrderedBlock<HeldPacket>[]): void {
    for (const b of blocks) {
      if (b.kind === 'secrets') {
        this.#writer.writeSecrets(Buffer.from(b.keyLog, 'utf8'));
      } else {
        const { block, interfaceId } = b.packet;
        this.#writer.writePacket({ interfaceId, timestampUnits: block.timestampUnits, data: block.data, originalLength: block.originalLength });
      }
    }
    this.#scheduleRelease();
  }

  /** Wakes up when the oldest held packet has waited long enough. */
  #scheduleRelease(): void {
    clearTimeout(this.#releaseTimer);
    const deadline = this.#orderer.deadline;
    if (deadline === null) return;
    this.#releaseTimer = setTimeout(() => {
      this.#emit(this.#orderer.release(this.#now()));
      void this.#drain();
    }, Math.max(0, deadline - this.#now()));
  }

  /**
   * Hands what was written to the output (a live reader sees it now); false once the output is gone. A failed
   * write stops the capture at once, whichever path finds it: packets released by the hold timer or a DSB of
   * the last keys may be the last writes, with no batch from tcpdump coming to notice.
   */
  async #drain(): Promise<boolean> {
    if (this.#writeError !== undefined) return false;
    try {
      await this.#writer.drain();
      return true;
    } catch (err) {
      this.#writeError = err;
      // Said when it happens, not only in the summary.
      if (!isClosedPipe(err)) this.#opts.onNotice(`${errorMessage(err).replace(/\.$/, '')}: stopping the capture`);
      this.stop(isClosedPipe(err) ? 'output closed' : 'write error');
      return false;
    }
  }
}

function sumStats(all: TcpdumpStats[]): TcpdumpStats {
  const sum = (key: keyof TcpdumpStats): number | null =>
    all.reduce<number | null>((total, s) => (total === null || s[key] === null ? null : total + s[key]!), 0);
  return { captured: sum('captured'), receivedByFilter: sum('receivedByFilter'), droppedByKernel: sum('droppedByKernel') };
}

/** The reader of `-w -` went away (e.g. Wireshark closed): an ending, not a failure. */
const errorMessage = (err: unknown): string => (err instanceof Error ? err.message : String(err));

function isClosedPipe(err: unknown): boolean {
  const cause = err instanceof GokeylogError ? err.cause : err;
  return (cause as NodeJS.ErrnoException | undefined)?.code === 'EPIPE';
}
