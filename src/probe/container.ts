/** Which container (and Kubernetes pod) a process runs in, read from its cgroup path as the runtimes name them. */
import { readFileSync } from 'node:fs';

export interface ContainerOf {
  /** The runtime's 64-hex container id (containerd, CRI-O, Docker). */
  id: string;
  runtime: 'containerd' | 'cri-o' | 'docker' | 'unknown';
  /** The pod UID when the cgroup is under kubepods (systemd's slice names write its dashes as underscores). */
  podUid?: string;
}

const RUNTIME_PREFIX: Record<string, ContainerOf['runtime']> = { 'cri-containerd': 'containerd', crio: 'cri-o', docker: 'docker' };

/**
 * From the text of /proc/PID/cgroup (v1 or v2): `…/kubepods-besteffort-pod<uid>.slice/cri-containerd-<id>.scope`,
 * `/kubepods/burstable/pod<uid>/<id>`, `/docker/<id>`, `…/crio-<id>.scope`. Undefined for a host process.
 */
function parseCgroup(text: string): ContainerOf | undefined {
  for (const line of text.split('\n')) {
    const cgroupPath = line.split(':').slice(2).join(':');
    const m = /(?:^|\/)(?:(cri-containerd|crio|docker)-)?([0-9a-f]{64})(?:\.scope)?$/.exec(cgroupPath);
    if (!m) continue;
    const runtime = m[1] ? RUNTIME_PREFIX[m[1]]! : cgroupPath.startsWith('/docker/') ? 'docker' : 'unknown';
    const pod = /pod([0-9a-f]{8}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{12})/.exec(cgroupPath);
    return { id: m[2]!, runtime, ...(pod ? { podUid: pod[1]!.replaceAll('_', '-') } : {}) };
  }
  return undefined;
}

export function containerOf(pid: number): ContainerOf | undefined {
  try {
    return parseCgroup(readFileSync(`/proc/${pid}/cgroup`, 'utf8'));
  } catch {
    return undefined;
  }
}
