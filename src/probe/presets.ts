/**
 * Presets for the Kubernetes control plane (`--k8s apiserver`, …): which process is the component, and which
 * TCP ports carry its TLS, read from its own command line as the component itself would (flags win over the
 * well-known defaults). Pure functions over facts gathered elsewhere (see presetTargets.ts).
 */
import path from 'node:path';

export const K8S_COMPONENTS = ['apiserver', 'kubelet', 'etcd', 'controller-manager', 'scheduler', 'kube-proxy'] as const;
export type K8sComponent = (typeof K8S_COMPONENTS)[number];

/** A flag whose value names a port the component serves TLS on: `--secure-port 6443`, `--listen-client-urls https://…:2379`. */
interface PortFlag {
  flag: string;
  /** `port`: the value is a port number; `urls`: a comma-separated list of URLs whose ports are taken. */
  form: 'port' | 'urls';
  defaultPort: number;
}

export interface ComponentPreset {
  component: K8sComponent;
  /** The executable's name, as comm (cut to 15 bytes by the kernel) or argv[0]'s basename shows it. */
  binary: string;
  ports: readonly PortFlag[];
  /** It talks to kube-apiserver as a client: its kubeconfig's server port is captured too. */
  apiserverClient: boolean;
}

// Defaults as the components document them (kube-apiserver --secure-port 6443, kubelet --port 10250,
// etcd client/peer 2379/2380, controller-manager 10257, scheduler 10259). kube-proxy serves only plain HTTP
// (healthz 10256, metrics 10249): its TLS is its client connection to kube-apiserver.
export const PRESETS: Readonly<Record<K8sComponent, ComponentPreset>> = {
  apiserver: { component: 'apiserver', binary: 'kube-apiserver', ports: [{ flag: '--secure-port', form: 'port', defaultPort: 6443 }], apiserverClient: false },
  kubelet: { component: 'kubelet', binary: 'kubelet', ports: [{ flag: '--port', form: 'port', defaultPort: 10250 }], apiserverClient: true },
  etcd: {
    component: 'etcd',
    binary: 'etcd',
    ports: [
      { flag: '--listen-client-urls', form: 'urls', defaultPort: 2379 },
      { flag: '--listen-peer-urls', form: 'urls', defaultPort: 2380 },
    ],
    apiserverClient: false,
  },
  'controller-manager': { component: 'controller-manager', binary: 'kube-controller-manager', ports: [{ flag: '--secure-port', form: 'port', defaultPort: 10257 }], apiserverClient: true },
  scheduler: { component: 'scheduler', binary: 'kube-scheduler', ports: [{ flag: '--secure-port', form: 'port', defaultPort: 10259 }], apiserverClient: true },
  'kube-proxy': { component: 'kube-proxy', binary: 'kube-proxy', ports: [], apiserverClient: true },
};

export const isK8sComponent = (name: string): name is K8sComponent => (K8S_COMPONENTS as readonly string[]).includes(name);

/** kube-apiserver's default secure port: where a client's kubeconfig points when it names no port. */
export const APISERVER_DEFAULT_PORT = PRESETS.apiserver.ports[0]!.defaultPort;

/**
 * The value of a flag as Go's pflag reads it: `--flag=value` or `--flag value`; the last one wins. Also accepts
 * the single-dash form, which pflag takes for long names too.
 */
export function flagValue(argv: readonly string[], flag: string): string | undefined {
  const names = [flag, flag.replace(/^--/, '-')];
  let value: string | undefined;
  for (let i = 1; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') break;
    for (const name of names) {
      if (arg.startsWith(`${name}=`)) value = arg.slice(name.length + 1);
      else if (arg === name && i + 1 < argv.length) value = argv[i + 1];
    }
  }
  return value;
}

export interface ServedPort {
  port: number;
  /** The flag it came from, or "default" when the command line does not set it. */
  source: string;
}

const validPort = (n: number): boolean => Number.isInteger(n) && n > 0 && n < 65536;

/** Ports of `https://1.2.3.4:2379,http://[::1]:2379,unix://x` (URLs without a port use the flag's default). */
function urlPorts(value: string, defaultPort: number): number[] {
  const ports: number[] = [];
  for (const part of value.split(',')) {
    const text = part.trim();
    if (text === '' || text.startsWith('unix')) continue;
    try {
      const url = new URL(text);
      ports.push(url.port === '' ? defaultPort : Number(url.port));
    } catch {
      // not a URL: etcd would refuse to start with it, so no port is served from it
    }
  }
  return ports.filter(validPort);
}

/** The TLS ports a component serves, from its command line, else its defaults. */
export function servedPorts(preset: ComponentPreset, argv: readonly string[]): ServedPort[] {
  const ports: ServedPort[] = [];
  for (const rule of preset.ports) {
    const value = flagValue(argv, rule.flag);
    if (value === undefined) {
      ports.push({ port: rule.defaultPort, source: 'default' });
      continue;
    }
    const found = rule.form === 'port' ? [Number(value)].filter(validPort) : urlPorts(value, rule.defaultPort);
    // --secure-port 0 turns kube-apiserver's secure serving off: nothing is served there.
    for (const port of found) ports.push({ port, source: rule.flag });
  }
  return dedupePorts(ports);
}

function dedupePorts(ports: ServedPort[]): ServedPort[] {
  const seen = new Set<number>();
  return ports.filter((p) => !seen.has(p.port) && seen.add(p.port));
}

/** The port of the first `server:` URL in a kubeconfig (YAML or JSON), or undefined. */
export function kubeconfigServerPort(text: string): number | undefined {
  const m = /["']?server["']?\s*:\s*["']?(https?:\/\/[^\s"',]+)/.exec(text);
  if (!m) return undefined;
  try {
    const url = new URL(m[1]!);
    const port = url.port === '' ? (url.protocol === 'https:' ? 443 : 80) : Number(url.port);
    return validPort(port) ? port : undefined;
  } catch {
    return undefined;
  }
}

/** The kubeconfig a client component reads (`--kubeconfig`), relative to its working directory. */
export function kubeconfigPath(argv: readonly string[]): string | undefined {
  return flagValue(argv, '--kubeconfig');
}

/** What is known of one process that looks like the component, gathered from /proc. */
export interface PresetCandidate {
  pid: number;
  comm: string;
  argv: string[];
  /** readlink of /proc/PID/exe. */
  exePath: string;
  /** The executable is a Go program (build info or pclntab): a wrapper shell or a sidecar is not. */
  goBinary: boolean;
  /** TCP ports the process listens on (its own sockets, in its own network namespace). */
  listening: number[];
  /** Seconds since boot at which it started (field 22 of /proc/PID/stat, in seconds). */
  startedAt: number;
}

export interface PassedOver {
  pid: number;
  reason: string;
}

export interface PresetChoice {
  preset: ComponentPreset;
  chosen: PresetCandidate[];
  passedOver: PassedOver[];
  /** Why the chosen ones were taken, one sentence. */
  why: string;
}

/** Whether a process has the component's name (comm or argv[0]): the cheap first test. */
export const namedLike = (preset: ComponentPreset, p: { comm: string; argv: readonly string[] }): boolean =>
  p.comm === preset.binary.slice(0, 15) || path.basename(p.argv[0] ?? '') === preset.binary;

/**
 * Which of the look-alikes is the component: a Go program (not a wrapper shell or sidecar that carries the
 * name), and among several, those that listen on the ports their own command line names (a process that is
 * shutting down has closed its listener first; a second copy that failed to bind is not serving). Client-only
 * components (kube-proxy) and processes whose ports are unknown keep every Go candidate, newest first.
 */
export function choosePresetProcesses(preset: ComponentPreset, candidates: readonly PresetCandidate[]): PresetChoice {
  const passedOver: PassedOver[] = [];
  let go: PresetCandidate[] = [];
  for (const c of candidates) {
    if (c.goBinary) go.push(c);
    else passedOver.push({ pid: c.pid, reason: `not a Go program: it runs ${c.exePath} (a wrapper or a look-alike)` });
  }
  if (go.length === 0) return { preset, chosen: [], passedOver, why: `no Go process named ${preset.binary} runs here` };
  go = [...go].sort((a, b) => b.startedAt - a.startedAt || b.pid - a.pid);
  if (preset.ports.length === 0 || go.length === 1) {
    const why = go.length === 1 ? `the only Go process named ${preset.binary}` : `${go.length} Go processes named ${preset.binary}`;
    return { preset, chosen: go, passedOver, why };
  }
  const serving = go.filter((c) => servedPorts(preset, c.argv).some((p) => c.listening.includes(p.port)));
  if (serving.length === 0) return { preset, chosen: go, passedOver, why: `${go.length} Go processes named ${preset.binary}, none listening on its ports yet` };
  for (const c of go) {
    if (!serving.includes(c)) {
      const ports = servedPorts(preset, c.argv).map((p) => p.port).join(', ');
      passedOver.push({ pid: c.pid, reason: `not listening on ${ports} (shutting down, or not serving)` });
    }
  }
  const ports = [...new Set(serving.flatMap((c) => servedPorts(preset, c.argv).map((p) => p.port)))].join(', ');
  return { preset, chosen: serving, passedOver, why: `listening on ${ports} as its command line says` };
}

/** A tcpdump filter for the chosen processes' TLS: the ports they serve, and the API server's port for clients. */
export function presetFilter(ports: readonly number[]): string | undefined {
  const unique = [...new Set(ports)].sort((a, b) => a - b);
  if (unique.length === 0) return undefined;
  return `tcp and (${unique.map((p) => `port ${p}`).join(' or ')})`;
}
