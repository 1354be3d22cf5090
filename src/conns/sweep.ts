import { planConnHooks, type ConnHookPlan } from '../golang/index.js';
import { goMinor } from '../golang/version.js';
import type { RawConnHit } from '../probe/events.js';
import { connFetchArgs, decodeConnRecord, type ConnProbeLayout } from '../probe/connProbe.js';
import { processInfo, ThreadOwners } from '../probe/targets.js';
import { TracefsProbes } from '../probe/tracefs.js';
import { findCipherSuite } from '../tls/suites.js';
import { GokeylogError } from '../util/errors.js';
import { readConn, type ConnFacts, type Refusal } from './inventory.js';
import { builtinLayouts, chooseLayouts, sameOffsets, type ConnLayout, type LayoutFile } from './layout.js';
import { ProcessMemory } from './memory.js';
import { socketInodeOfFd } from '../probe/sockets.js';
import { establishedSockets, type TargetSocket } from './sockets.js';

/** A TLS 1.3 traffic secret taken at a probe hit, with the sequence number of the next record it protects. */
export interface SecretAt {
  seq: bigint;
  secret: Uint8Array;
  /** Wall clock, ns since the epoch. */
  timeNs: bigint;
}

/** One live TLS connection found by the sweep, keyed by its Conn pointer and its socket. */
export interface SweptConn {
  pid: number;
  facts: ConnFacts;
  inode: number;
  layout: string;
  /** The directions' secrets, as read at the first Read (in) and Write (out) hit after they were known. */
  in?: SecretAt;
  out?: SecretAt;
  firstSeenNs: bigint;
}

export interface SweptProcess {
  pid: number;
  comm: string;
  goVersion: string;
  goVersionSource: string;
  /** The layout table used ("go1.25"), or why none could be ("layout unknown for go1.28: …"). */
  layout: string | { unknown: string };
  conns: SweptConn[];
  /** Established TCP sockets of the target that showed no TLS activity during the sweep. */
  idle: TargetSocket[];
  /** Conns whose reads did not validate: never reported as connections. */
  refused: number;
  /** Valid Conns whose connection closed between their probe hit and the read (short-lived clients). */
  closed: number;
  /** Why, for the first few. */
  refusals: string[];
}

export interface SweepResult {
  processes: SweptProcess[];
  /** From probes attached until they were removed. */
  elapsedMs: number;
  /** Every established socket was matched before the time limit. */
  complete: boolean;
  hits: number;
}

export interface SweepOptions {
  /** Upper bound of the sweep (the 30 s by default). */
  maxSeconds: number;
  /** Use this layout table instead of the built-in ones (for a Go release gokeylog has no table for). */
  layouts?: LayoutFile[];
  signal?: AbortSignal;
  onNotice?: (message: string) => void;
  /** Processes asked for by --pid: one that cannot be swept fails the run; others found by name are skipped with a notice. */
  explicit?: ReadonlySet<number>;
}

interface Target {
  pid: number;
  comm: string;
  plan: ConnHookPlan;
  mem: ProcessMemory;
  candidates: ConnLayout[];
  exact: boolean;
  /** Candidate index → conns it validated. */
  validated: Map<number, Map<bigint, SweptConn>>;
  sockets: Map<number, TargetSocket>;
  matchedInodes: Set<number>;
  seen: Set<bigint>;
  refused: number;
  closed: number;
  refusals: string[];
  unknown?: string;
}

/** Probes fetch only a few offsets: candidates that agree on them share one probe pair. */
const probeLayout = (l: ConnLayout): ConnProbeLayout => ({ vers: l.conn.vers, cipherSuite: l.conn.cipherSuite, in: l.conn.in, out: l.conn.out, halfConn: l.halfConn });
const SECRET_LENGTH = { sha256: 32, sha384: 48 } as const;
const MAX_REFUSALS_KEPT = 5;
const POLL_MS = 100;

/**
 * Attaches validated entry probes on (*tls.Conn).Read and Write of every target, collects the Conns they
 * see until each established TCP socket of the targets is matched (or `maxSeconds`, or the signal), removes
 * the probes (on every path, synchronously), then re-reads every Conn and returns what still validates.
 */
export async function sweepConns(pids: number[], options: SweepOptions): Promise<SweepResult> {
  const notice = options.onNotice ?? (() => {});
  const tables = options.layouts ?? builtinLayouts();
  const targets: Target[] = [];
  // Processes of one binary share its plan: it is located and validated once.
  const plans = new Map<string, Promise<ConnHookPlan>>();
  try {
    for (const pid of pids) {
      try {
        targets.push(await openTarget(pid, tables, plans));
      } catch (err) {
        const comm = processInfo(pid)?.comm ?? '?';
        const why = err instanceof Error ? err.message : String(err);
        if (options.explicit?.has(pid) !== false && err instanceof GokeylogError) throw new GokeylogError(`pid ${pid} (${comm}): ${why}`, err.code, { cause: err });
        if (options.explicit?.has(pid) !== false) throw err;
        notice(`not sweeping pid ${pid} (${comm}): ${why}`);
      }
    }
    if (targets.length === 0) throw new GokeylogError('no target process could be swept.', 'GOKEYLOG_ERR_NO_SUCH_PROCESS');
    return await runSweep(targets, options, notice);
  } finally {
    for (const t of targets) t.mem.close();
  }
}

async function openTarget(pid: number, tables: LayoutFile[], plans: Map<string, Promise<ConnHookPlan>>): Promise<Target> {
  const info = processInfo(pid);
  if (!info) throw new GokeylogError(`no process with pid ${pid} (or it has no executable).`, 'GOKEYLOG_ERR_NO_SUCH_PROCESS');
  let planned = plans.get(info.binary);
  if (!planned) plans.set(info.binary, (planned = planConnHooks(`/proc/${pid}/exe`)));
  const plan = await planned;
  const choice = chooseLayouts(plan.goVersion, plan.arch, tables);
  // Layouts with equal offsets are one candidate.
  const candidates = choice.candidates.filter((c, i) => choice.candidates.findIndex((d) => sameOffsets(c, d)) === i);
  const t: Target = {
    pid, comm: info.comm, plan, mem: new ProcessMemory(pid), candidates, exact: choice.exact, validated: new Map(),
    sockets: new Map(establishedSockets(pid).map((s) => [s.inode, s])), matchedInodes: new Set(), seen: new Set(), refused: 0, closed: 0, refusals: [],
  };
  if (candidates.length === 0) t.unknown = `layout unknown for go1.${goMinor(plan.goVersion) ?? '?'} (${plan.goVersion}, ${plan.arch}): no table of its own or of a neighbour`;
  return t;
}

async function runSweep(targets: Target[], options: SweepOptions, notice: (m: string) => void): Promise<SweepResult> {
  const owners = new ThreadOwners();
  for (const t of targets) owners.learn(t.pid);
  const byPid = new Map(targets.map((t) => [t.pid, t]));
  const probes = new Map<string, { target: Target[]; read: boolean; candidates: number[] }>();
  const monoToWallNs = BigInt(Date.now()) * 1_000_000n - process.hrtime.bigint();
  let hits = 0;
  const onHit = (hit: RawConnHit): void => {
    hits++;
    const probe = probes.get(hit.probe);
    const pid = owners.ownerOf(hit.tid) ?? hit.tgid ?? hit.tgidOf?.(hit.tid);
    const t = pid === undefined ? undefined : byPid.get(pid);
    if (!probe || !t || !probe.target.includes(t)) return;
    for (const index of probe.candidates) onConnHit(t, index, hit, probe.read, monoToWallNs);
  };
  const tracefs = TracefsProbes.open({
    onRecord: (r) => {
      if (r.kind === 'conn') onHit(r.hit);
    },
    onNotice: notice,
  });
  // The caller's stop signal (the CLI aborts it on SIGINT/SIGTERM/SIGHUP and at process exit) removes the
  // probes at once; what they read until then is kept.
  const cleanup = (): void => void tracefs.close();
  options.signal?.addEventListener('abort', cleanup, { once: true });
  const started = process.hrtime.bigint();
  let complete = false;
  try {
    attachProbes(tracefs, targets, probes, notice);
    complete = await waitUntilMatched(targets, options);
  } finally {
    options.signal?.removeEventListener('abort', cleanup);
    tracefs.close();
  }
  const elapsedMs = Number(process.hrtime.bigint() - started) / 1e6;
  return { processes: targets.map(finish), elapsedMs, complete, hits };
}

/** One probe pair per binary and distinct probe layout; processes of one binary share it. */
function attachProbes(tracefs: TracefsProbes, targets: Target[], probes: Map<string, { target: Target[]; read: boolean; candidates: number[] }>, notice: (m: string) => void): void {
  let n = 0;
  const byBinary = new Map<string, Target[]>();
  for (const t of targets) {
    if (t.unknown) continue;
    const key = `${t.plan.read.fileOffset}:${processInfo(t.pid)?.binary}`;
    byBinary.set(key, [...(byBinary.get(key) ?? []), t]);
  }
  for (const group of byBinary.values()) {
    const t = group[0]!;
    const done: ConnProbeLayout[] = [];
    for (const candidate of t.candidates) {
      const pl = probeLayout(candidate);
      if (done.some((d) => JSON.stringify(d) === JSON.stringify(pl))) continue;
      done.push(pl);
      const indexes = t.candidates.map((c, i) => (JSON.stringify(probeLayout(c)) === JSON.stringify(pl) ? i : -1)).filter((i) => i >= 0);
      const args = connFetchArgs(t.plan.arch, t.plan.conn, pl);
      for (const [read, entry] of [[true, t.plan.read], [false, t.plan.write]] as const) {
        const event = `${read ? 'cr' : 'cw'}${n}`;
        tracefs.addProbe(event, `/proc/${t.pid}/exe`, BigInt(entry.fileOffset), args, decodeConnRecord);
        probes.set(event, { target: group, read, candidates: indexes });
      }
      n++;
    }
    notice(`probing ${t.plan.goVersion} ${t.plan.abi}-ABI (*Conn).Read/Write at file offsets 0x${t.plan.read.fileOffset.toString(16)}/0x${t.plan.write.fileOffset.toString(16)} of pid ${group.map((g) => g.pid).join(', ')}`);
  }
}

function onConnHit(t: Target, index: number, hit: RawConnHit, read: boolean, monoToWallNs: bigint): void {
  let conns = t.validated.get(index);
  if (!conns) t.validated.set(index, (conns = new Map()));
  let swept = conns.get(hit.conn);
  if (!swept) {
    const seenKey = (hit.conn << 8n) | BigInt(index);
    if (t.seen.has(seenKey)) return; // refused before
    t.seen.add(seenKey);
    const layout = t.candidates[index]!;
    const facts = readConn(t.mem, hit.conn, layout);
    const refusal = 'refused' in facts ? facts : matchSocket(t, facts);
    if (refusal || 'refused' in facts) {
      // A Conn whose TLS state validated but whose socket is gone (or no longer established) closed meanwhile.
      if (refusal?.closed) {
        t.closed++;
        t.seen.delete(seenKey); // its address may be reused by a new Conn: read that one when it shows up
      } else {
        t.refused++;
        if (t.refusals.length < MAX_REFUSALS_KEPT) t.refusals.push(`${layout.release} at 0x${hit.conn.toString(16)}: ${refusal?.refused}`);
      }
      return;
    }
    swept = { pid: t.pid, facts, inode: socketInodeOfFd(t.pid, facts.fd)!, layout: layout.release, firstSeenNs: hit.timeNs + monoToWallNs };
    conns.set(hit.conn, swept);
    t.matchedInodes.add(swept.inode);
  }
  // The probe read these at the instant; they must agree with the Conn as validated.
  const half = read ? hit.in : hit.out;
  if (hit.vers !== swept.facts.vers || half.version !== swept.facts.vers || hit.cipherSuite !== swept.facts.cipherSuite) return;
  const suite = findCipherSuite(swept.facts.cipherSuite);
  if (!suite?.tls13 || half.secret.length !== SECRET_LENGTH[suite.hash]) return;
  const at: SecretAt = { seq: half.seq, secret: half.secret, timeNs: hit.timeNs + monoToWallNs };
  if (read) swept.in ??= at;
  else swept.out ??= at;
}

/** The Conn's descriptor must be a socket of the target whose kernel addresses are the ones Go recorded. */
function matchSocket(t: Target, facts: ConnFacts): Refusal | undefined {
  const inode = socketInodeOfFd(t.pid, facts.fd);
  if (inode === undefined) return { refused: `descriptor ${facts.fd} is not a socket of pid ${t.pid}`, closed: true };
  let socket = t.sockets.get(inode);
  if (!socket) {
    // Established since the sweep began: account for it too.
    socket = establishedSockets(t.pid).find((s) => s.inode === inode);
    if (!socket) return { refused: `descriptor ${facts.fd} is not an established TCP socket`, closed: true };
    t.sockets.set(inode, socket);
  }
  const same = (a: { ip: string; port: number }, b: { ip: string; port: number }): boolean => a.ip === b.ip && a.port === b.port;
  if (!same(socket.local, facts.local) || !same(socket.remote, facts.remote)) return { refused: `the Conn's addresses differ from its socket's` };
  return undefined;
}

async function waitUntilMatched(targets: Target[], options: SweepOptions): Promise<boolean> {
  const deadline = Date.now() + options.maxSeconds * 1000;
  const probed = targets.filter((t) => !t.unknown);
  if (probed.length === 0) return false;
  for (;;) {
    if (probed.every(allMatched)) return true;
    if (Date.now() >= deadline || options.signal?.aborted) return false;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, POLL_MS);
      options.signal?.addEventListener('abort', () => (clearTimeout(timer), resolve()), { once: true });
    });
  }
}

/** Whether every established socket is matched; sockets that closed during the sweep are not waited for. */
function allMatched(t: Target): boolean {
  const unmatched = [...t.sockets.keys()].filter((inode) => !t.matchedInodes.has(inode));
  if (unmatched.length === 0) return true;
  const alive = new Set(establishedSockets(t.pid).map((s) => s.inode));
  for (const inode of unmatched) if (!alive.has(inode)) t.sockets.delete(inode);
  return unmatched.every((inode) => !alive.has(inode));
}

/**
 * After the probes are gone: the layout that validated (exactly one, or the table is refused), every Conn
 * re-read and re-matched (a freed Conn's address may be reused: pointer and 5-tuple must both still hold).
 */
function finish(t: Target): SweptProcess {
  const base = { pid: t.pid, comm: t.comm, goVersion: t.plan.goVersion, goVersionSource: t.plan.goVersionSource, refused: t.refused, closed: t.closed, refusals: t.refusals };
  const sockets = establishedSockets(t.pid);
  const used = [...t.validated.entries()].filter(([, conns]) => conns.size > 0);
  let layout: SweptProcess['layout'];
  const conns: SweptConn[] = [];
  if (t.unknown) layout = { unknown: t.unknown };
  else if (used.length > 1) {
    layout = { unknown: `layout unknown for ${t.plan.goVersion}: the tables of ${used.map(([i]) => t.candidates[i]!.release).join(' and ')} both fit` };
  } else {
    const [index, found] = used[0] ?? [0, new Map<bigint, SweptConn>()];
    const chosen = t.candidates[index]!;
    layout = chosen.release;
    for (const swept of found.values()) {
      const again = readConn(t.mem, swept.facts.conn, chosen);
      const socket = sockets.find((s) => s.inode === swept.inode);
      if ('refused' in again || !socket || socketInodeOfFd(t.pid, again.fd) !== swept.inode) continue; // closed meanwhile
      if (again.remote.port !== swept.facts.remote.port || again.remote.ip !== swept.facts.remote.ip) continue;
      conns.push({ ...swept, facts: again });
    }
    if (!t.exact && conns.length === 0) layout = { unknown: `layout unknown for ${t.plan.goVersion}: no neighbour's table validated on a live connection` };
  }
  const matched = new Set(conns.map((c) => c.inode));
  return { ...base, layout, conns, idle: sockets.filter((s) => !matched.has(s.inode)) };
}
