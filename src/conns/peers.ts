import { readdirSync, readFileSync } from 'node:fs';
import type { Endpoint } from '../net/index.js';
import { containerOf } from '../probe/container.js';
import { netnsOf } from '../probe/targets.js';
import { socketFds, tcpSockets, type TcpSocket } from '../probe/sockets.js';

/** The process at the other end of a connection on the same node, as `ss -p` names it. */
export interface PeerProcess {
  pid: number;
  comm: string;
  /** The container id from its cgroup path (64 hex digits), when it runs in one (probe/container.ts reads it). */
  containerId: string | null;
}

const same = (a: Endpoint, b: Endpoint): boolean => a.ip === b.ip && a.port === b.port;

/**
 * Names the local peers of connections: a connection's peer is on this node when the target's network
 * namespace holds the mirror socket (local = the peer, remote = us); its owner is the process with that socket
 * inode among its descriptors, searched (like `ss -p`) over the processes in the same network namespace.
 */
export class PeerFinder {
  readonly #sockets: TcpSocket[];
  readonly #netns: string | undefined;
  #owners: Map<number, number> | undefined;

  constructor(readonly pid: number) {
    this.#sockets = tcpSockets(pid);
    this.#netns = netnsOf(pid);
  }

  find(local: Endpoint, remote: Endpoint): PeerProcess | null {
    const mirror = this.#sockets.find((s) => same(s.local, remote) && same(s.remote, local));
    if (!mirror) return null;
    const owner = this.#ownerMap().get(mirror.inode);
    return owner === undefined ? null : describe(owner);
  }

  #ownerMap(): Map<number, number> {
    if (this.#owners) return this.#owners;
    this.#owners = new Map();
    for (const name of readdirSync('/proc')) {
      if (!/^\d+$/.test(name)) continue;
      const pid = Number(name);
      if (netnsOf(pid) !== this.#netns) continue;
      for (const inode of socketFds(pid).keys()) if (!this.#owners.has(inode)) this.#owners.set(inode, pid);
    }
    return this.#owners;
  }
}

function describe(pid: number): PeerProcess | null {
  try {
    const comm = readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
    return { pid, comm, containerId: containerOf(pid)?.id ?? null };
  } catch {
    return null;
  }
}
