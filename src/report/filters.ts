/**
 * "Who uses this?": the report narrowed to credentials (user, group, fingerprint prefix, certificate,
 * serial, token subject, expiring only), to requests (verb, resource, namespace) and to client addresses
 * (IP or CIDR). Every option is a list (repeatable); values of one option are alternatives, options combine.
 * Requests are filtered as they complete, so that streamed output (NDJSON) is filtered too.
 */
import { BlockList, isIP } from 'node:net';
import type { Credential } from './identities.js';
import type { ExpiryWindow } from './timeLeft.js';
import type { KubeRequestInfo } from '../kube/index.js';

export interface ReportFilter {
  users: string[];
  groups: string[];
  /** Hex prefixes (any case, colons ignored) of a certificate's SHA-256 or a token's fingerprint. */
  fingerprints: string[];
  /** Certificate serial numbers (hex, any case, leading zeros and colons ignored). */
  serials: string[];
  tokenSubjects: string[];
  /** Only credentials that expire within the window (or expired). */
  expiringOnly: boolean;
  verbs: string[];
  resources: string[];
  namespaces: string[];
  /** IPs or CIDRs. */
  clients: string[];
}

export const NO_FILTER: ReportFilter = {
  users: [], groups: [], fingerprints: [], serials: [], tokenSubjects: [], expiringOnly: false, verbs: [], resources: [], namespaces: [], clients: [],
};

const normalHex = (s: string): string => s.replace(/:/g, '').toLowerCase();
const normalSerial = (s: string): string => normalHex(s).replace(/^0+(?=.)/, '');

/** The filter as a set of predicates; null fields mean "anything". */
export class Filter {
  readonly active: boolean;
  readonly byCredential: boolean;
  readonly byRequest: boolean;
  readonly #clients: BlockList | null;
  readonly #spec: ReportFilter;

  constructor(spec: ReportFilter) {
    this.#spec = spec;
    this.byCredential = [spec.users, spec.groups, spec.fingerprints, spec.serials, spec.tokenSubjects].some((l) => l.length > 0) || spec.expiringOnly;
    this.byRequest = [spec.verbs, spec.resources, spec.namespaces].some((l) => l.length > 0);
    this.#clients = spec.clients.length ? clientList(spec.clients) : null;
    this.active = this.byCredential || this.byRequest || this.#clients !== null;
  }

  /** `window` is the reference time and --expiring-within, for --expiring-only. */
  credential(c: Credential | null, window: ExpiryWindow): boolean {
    if (!this.byCredential) return true;
    if (!c) return false;
    const s = this.#spec;
    if (s.users.length && !(c.user !== null && s.users.includes(c.user))) return false;
    if (s.groups.length && !c.groups.some((g) => s.groups.includes(g))) return false;
    if (s.fingerprints.length && !(c.fingerprint !== null && s.fingerprints.some((f) => c.fingerprint!.startsWith(normalHex(f))))) return false;
    if (s.serials.length && !(c.serialNumber !== null && s.serials.some((x) => normalSerial(x) === normalSerial(c.serialNumber!)))) return false;
    if (s.tokenSubjects.length && !(c.token?.sub && s.tokenSubjects.includes(c.token.sub))) return false;
    if (s.expiringOnly && !(c.notAfter !== null && window.includes(c.notAfter))) return false;
    return true;
  }

  request(kube: KubeRequestInfo): boolean {
    const s = this.#spec;
    if (s.verbs.length && !s.verbs.includes(kube.verb)) return false;
    if (s.resources.length && !(kube.resource && (s.resources.includes(kube.resource) || (kube.subresource && s.resources.includes(`${kube.resource}/${kube.subresource}`))))) return false;
    if (s.namespaces.length && !(kube.namespace && s.namespaces.includes(kube.namespace))) return false;
    return true;
  }

  client(ip: string): boolean {
    if (!this.#clients) return true;
    const family = isIP(ip);
    return family !== 0 && this.#clients.check(ip, family === 6 ? 'ipv6' : 'ipv4');
  }
}

/** Parses `--client` values; throws a one-sentence Error naming the bad value. */
export function clientList(values: string[]): BlockList {
  const list = new BlockList();
  for (const value of values) {
    const [address, bits, extra] = value.split('/');
    const family = isIP(address ?? '');
    const prefix = bits === undefined ? (family === 6 ? 128 : 32) : Number(bits);
    if (family === 0 || extra !== undefined || !Number.isInteger(prefix) || prefix < 0 || prefix > (family === 6 ? 128 : 32) || (bits !== undefined && !/^\d+$/.test(bits))) {
      throw new Error(`--client ${value} is not an IP address or CIDR (e.g. 10.0.0.7 or 10.0.0.0/24).`);
    }
    list.addSubnet(address!, prefix, family === 6 ? 'ipv6' : 'ipv4');
  }
  return list;
}
