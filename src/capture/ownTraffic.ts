/**
 * The targets' own TCP traffic: capture's default when no -f is given. In the host network namespace
 * tcpdump sees every process's packets; only those of a connection that is a target's socket are kept —
 * an accepted or outgoing connection (its 4-tuple) or any connection to one of its listening ports. Sockets
 * are read from /proc/PID/fd (socket:[INODE]) and the namespace's /proc/PID/net/tcp and tcp6, again whenever
 * a packet of a connection not decided yet arrives, so the set stays current while the targets run.
 */
import { readFileSync } from 'node:fs';
import { connectionKey, type Endpoint } from '../net/index.js';
import { ipToString, socketFds, tcpSockets, TCP_LISTEN } from '../probe/sockets.js';

const WILDCARDS = new Set(['0.0.0.0', '::']);

/**
 * The namespace's own addresses (where a wildcard listener accepts): IPv4 from fib_trie's "/32 host LOCAL"
 * entries, IPv6 from if_inet6 (hex in network order). 127.0.0.0/8 is local anyway.
 */
function parseLocalAddresses(fibTrie: string, ifInet6: string): Set<string> {
  const addresses = new Set<string>();
  let last: string | undefined;
  for (const line of fibTrie.split('\n')) {
    const leaf = /\|-- (\d+\.\d+\.\d+\.\d+)$/.exec(line.trimEnd());
    if (leaf) last = leaf[1];
    else if (last && /^\s+\/32 host LOCAL/.test(line)) addresses.add(last);
  }
  for (const line of ifInet6.split('\n')) {
    const hex = line.trim().split(/\s+/)[0];
    if (hex && /^[0-9a-fA-F]{32}$/.test(hex)) addresses.add(ipToString(Buffer.from(hex, 'hex')));
  }
  return addresses;
}

function localAddresses(pid: number): Set<string> {
  const read = (file: string): string => {
    try {
      return readFileSync(`/proc/${pid}/net/${file}`, 'latin1');
    } catch {
      return '';
    }
  };
  return parseLocalAddresses(read('fib_trie'), read('if_inet6'));
}

const isLocal = (ip: string, local: ReadonlySet<string>): boolean => local.has(ip) || ip.startsWith('127.') || ip === '::1';

/** Decisions remembered per connection at most; past it they are forgotten and made again. */
const MAX_DECISIONS = 1 << 16;

/** Whether a captured connection is one of the targets'; see the module comment. */
export class TargetTraffic {
  readonly #pids: () => readonly number[];
  #connections = new Set<string>();
  /** "ip port" of listeners; a wildcard address as "* port". */
  #listeners = new Set<string>();
  /** Ports the targets listen on, and the server ports of the connections they opened themselves. */
  #ports = new Set<number>();
  /** The targets' namespaces' own addresses, where their wildcard listeners accept. */
  #local = new Set<string>();
  readonly #decided = new Map<string, boolean>();
  #refreshes = 0;

  constructor(pids: () => readonly number[]) {
    this.#pids = pids;
    this.refresh();
  }

  /** How many times the sockets were read (for the capture summary). */
  get refreshes(): number {
    return this.#refreshes;
  }

  /** Re-reads the targets' sockets. */
  refresh(): void {
    this.#refreshes++;
    const connections = new Set<string>();
    const listeners = new Set<string>();
    const local = new Set<string>();
    const listening = new Set<number>();
    const outgoing = new Set<number>();
    for (const pid of this.#pids()) {
      const inodes = socketFds(pid);
      if (inodes.size === 0) continue;
      for (const ip of localAddresses(pid)) local.add(ip);
      const sockets = tcpSockets(pid).filter((s) => inodes.has(s.inode));
      for (const s of sockets) {
        if (s.state !== TCP_LISTEN) continue;
        listeners.add(`${WILDCARDS.has(s.local.ip) ? '*' : s.local.ip} ${s.local.port}`);
        listening.add(s.local.port);
      }
      for (const s of sockets) {
        if (s.state === TCP_LISTEN) continue;
        connections.add(connectionKey(s.local, s.remote));
        // Accepted connections are on a listening port; the others the target opened to a server's port.
        if (!listening.has(s.local.port)) outgoing.add(s.remote.port);
      }
    }
    this.#connections = connections;
    this.#listeners = listeners;
    this.#local = local;
    this.#ports = new Set([...listening, ...outgoing]);
  }

  /**
   * A BPF filter for tcpdump that keeps the kernel's copy small on a busy host: the targets' listening ports
   * and the server ports they are connected to, now ("tcp" when they have no socket yet). Exact matching
   * happens in owns(); connections opened later to other ports are outside it (see portsOutside). For a
   * fixed set of targets only: processes found later may listen anywhere.
   */
  bpfFilter(): { filter: string; ports: ReadonlySet<number> } {
    const ports = new Set(this.#ports);
    if (ports.size === 0) return { filter: 'tcp', ports };
    return { filter: `tcp and (${[...ports].sort((a, b) => a - b).map((p) => `port ${p}`).join(' or ')})`, ports };
  }

  /** Re-reads the sockets; the targets' ports that a filter of `ports` misses. */
  portsOutside(ports: ReadonlySet<number>): number[] {
    this.refresh();
    return [...this.#ports].filter((p) => !ports.has(p));
  }

  /** For the packet of connection `conn` (packetFacts' id) between `a` and `b`. */
  owns(conn: string, a: Endpoint, b: Endpoint): boolean {
    const known = this.#decided.get(conn);
    if (known !== undefined) return known;
    let mine = this.#matches(conn, a, b);
    if (!mine) {
      // A connection opened since the last look: its socket is in /proc by the time its packets reach us.
      this.refresh();
      mine = this.#matches(conn, a, b);
    }
    if (this.#decided.size >= MAX_DECISIONS) this.#decided.clear();
    this.#decided.set(conn, mine);
    return mine;
  }

  #matches(conn: string, a: Endpoint, b: Endpoint): boolean {
    if (this.#connections.has(conn)) return true;
    return [a, b].some((e) => this.#listeners.has(`${e.ip} ${e.port}`) || (this.#listeners.has(`* ${e.port}`) && isLocal(e.ip, this.#local)));
  }
}
