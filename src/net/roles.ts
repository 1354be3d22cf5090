/**
 * Who is the client of a TCP connection. The SYN says so; a connection the capture joined in the middle is
 * judged by its first payload through heuristics the upper layers register (TLS registers its hellos), as
 * Wireshark's heuristic dissectors do: net never knows what it carries. Then by an endpoint seen accepting
 * other connections, else by the ports.
 */
import { endpointKey, TcpFlow } from './flow.js';
import { TcpFlag, type TcpSegment } from './segment.js';

/** An upper layer's guess from the first payload seen of a connection joined in the middle. */
export interface SenderHeuristic {
  /** Names the heuristic in `ConnectionInfo.rolesFrom` (e.g. 'tls'). */
  readonly name: string;
  /** Whether `payload`'s sender is the client; undefined when the bytes tell nothing. */
  isFromClient(payload: Uint8Array): boolean | undefined;
}

/** How the roles were decided: 'syn', a heuristic's name, 'known server' or 'port'. */
export type RolesFrom = string;

/** Server endpoints remembered for role decisions; the set starts over when full. */
const MAX_KNOWN_SERVERS = 10_000;

export class RoleClassifier {
  /** Endpoints seen answering a SYN: servers, which tells roles of connections joined in the middle. */
  readonly #knownServers = new Set<string>();
  readonly #heuristics: readonly SenderHeuristic[];

  constructor(heuristics: readonly SenderHeuristic[] = []) {
    this.#heuristics = heuristics;
  }

  /** The first segment seen of a connection → its client-to-server flow, and how that was decided. */
  classify(segment: TcpSegment): { flow: TcpFlow; rolesFrom: RolesFrom } {
    const { fromClient, rolesFrom } = this.#decide(segment);
    const flow = new TcpFlow(segment.src, segment.dst);
    const toServer = fromClient ? flow : flow.reverse();
    if (rolesFrom === 'syn') {
      if (this.#knownServers.size >= MAX_KNOWN_SERVERS) this.#knownServers.clear();
      this.#knownServers.add(endpointKey(toServer.dst));
    }
    return { flow: toServer, rolesFrom };
  }

  #decide(segment: TcpSegment): { fromClient: boolean; rolesFrom: RolesFrom } {
    const flags = segment.flags;
    if (flags & TcpFlag.SYN) return { fromClient: (flags & TcpFlag.ACK) === 0, rolesFrom: 'syn' };
    for (const heuristic of this.#heuristics) {
      const fromClient = heuristic.isFromClient(segment.payload);
      if (fromClient !== undefined) return { fromClient, rolesFrom: heuristic.name };
    }
    const srcServes = this.#knownServers.has(endpointKey(segment.src));
    if (srcServes !== this.#knownServers.has(endpointKey(segment.dst))) return { fromClient: !srcServes, rolesFrom: 'known server' };
    // Servers listen on the lower port (well-known or registered), clients use ephemeral ones.
    return { fromClient: segment.src.port > segment.dst.port, rolesFrom: 'port' };
  }
}
