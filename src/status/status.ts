/**
 * `gokeylog status`: which control-plane components run on this node, their binaries and Go versions, and
 * whether each can be hooked — inspect's verdict on the binary, so nothing is attached to find out.
 */
import path from 'node:path';
import { inspectBinary } from '../golang/index.js';
import { containerOf, type ContainerOf } from '../probe/container.js';
import { K8S_COMPONENTS, type K8sComponent } from '../probe/presets.js';
import { resolvePreset } from '../probe/presetTargets.js';
import { GokeylogError } from '../util/errors.js';

export interface ComponentStatus {
  component: K8sComponent;
  pid: number;
  comm: string;
  /** The binary as the process sees it (inside its own mount namespace for a container). */
  binary: string;
  container: ContainerOf | null;
  goVersion: string | null;
  /** TLS ports worth capturing: what it serves, and the API server port it calls. */
  ports: number[];
  hookable: boolean;
  /** How writeKeyLog was found and validated, or why it cannot be hooked (inspect's sentence). */
  verdict: string;
  /** Why this process was taken among its look-alikes. */
  why: string;
}

export interface PassedOverStatus {
  component: K8sComponent;
  pid: number;
  reason: string;
}

export interface NodeStatus {
  components: ComponentStatus[];
  passedOver: PassedOverStatus[];
}

export async function nodeStatus(components: readonly K8sComponent[] = K8S_COMPONENTS): Promise<NodeStatus> {
  const status: NodeStatus = { components: [], passedOver: [] };
  for (const component of components) {
    const choice = await resolvePreset(component);
    for (const p of choice.passedOver) status.passedOver.push({ component, ...p });
    for (const c of choice.chosen) {
      const exe = path.join('/proc', String(c.pid), 'exe');
      let goVersion: string | null = null;
      let hookable = false;
      let verdict: string;
      try {
        const report = await inspectBinary(exe);
        goVersion = report.goVersion;
        hookable = true;
        verdict = `writeKeyLog at 0x${report.writeKeyLog.vaddr.toString(16)}, found by ${report.writeKeyLog.method}, validated (${report.abi} ABI)`;
      } catch (err) {
        if (!(err instanceof GokeylogError)) throw err;
        verdict = err.message.replace(`${exe}: `, '').replace(exe, 'the binary');
      }
      status.components.push({ component, pid: c.pid, comm: c.comm, binary: c.exePath, container: containerOf(c.pid) ?? null, goVersion, ports: choice.ports, hookable, verdict, why: choice.why });
    }
  }
  return status;
}
