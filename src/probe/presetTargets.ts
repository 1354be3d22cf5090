/** The processes a `--k8s` preset selects on this node, read from /proc (see presets.ts for the rules). */
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { isGoProgram } from '../golang/index.js';
import { PRESETS, choosePresetProcesses, kubeconfigPath, kubeconfigServerPort, namedLike, servedPorts, APISERVER_DEFAULT_PORT, type K8sComponent, type PresetCandidate, type PresetChoice } from './presets.js';
import { listeningPorts } from './sockets.js';
import { processInfo, startTime } from './targets.js';

const PROC = '/proc';

/** argv of a process, or undefined if it is gone (kernel threads have an empty one). */
function commandLine(pid: number): string[] | undefined {
  try {
    const raw = readFileSync(path.join(PROC, String(pid), 'cmdline'), 'utf8');
    return raw === '' ? undefined : raw.replace(/\0$/, '').split('\0');
  } catch {
    return undefined;
  }
}

/** Start time in seconds since boot (clock ticks of 100 Hz, as on every Linux build gokeylog runs on); 0 when it is gone. */
const startedAt = (pid: number): number => Number(startTime(pid) ?? 0) / 100;

async function candidatesFor(component: K8sComponent): Promise<PresetCandidate[]> {
  const preset = PRESETS[component];
  const found: PresetCandidate[] = [];
  for (const name of readdirSync(PROC)) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    const pid = Number(name);
    const info = processInfo(pid);
    const argv = info && commandLine(pid);
    if (!info || !argv || !namedLike(preset, { comm: info.comm, argv })) continue;
    found.push({ pid, comm: info.comm, argv, exePath: info.exePath, goBinary: await isGoProgram(path.join(PROC, name, 'exe')), listening: listeningPorts(pid), startedAt: startedAt(pid) });
  }
  return found;
}

/** The API server port a client component's kubeconfig names, read inside the process's own root (containers). */
function apiserverPortOf(candidate: PresetCandidate): number {
  const file = kubeconfigPath(candidate.argv);
  if (file === undefined) return APISERVER_DEFAULT_PORT;
  const root = path.join(PROC, String(candidate.pid), 'root');
  const cwd = path.join(PROC, String(candidate.pid), 'cwd');
  try {
    const text = readFileSync(path.isAbsolute(file) ? path.join(root, file) : path.join(cwd, file), 'utf8');
    return kubeconfigServerPort(text) ?? APISERVER_DEFAULT_PORT;
  } catch {
    return APISERVER_DEFAULT_PORT;
  }
}

export interface ResolvedPreset extends PresetChoice {
  /** TCP ports worth capturing for the chosen processes: what they serve, and the API server port they call. */
  ports: number[];
}

export async function resolvePreset(component: K8sComponent): Promise<ResolvedPreset> {
  const choice = choosePresetProcesses(PRESETS[component], await candidatesFor(component));
  const ports = new Set<number>();
  for (const c of choice.chosen) {
    for (const p of servedPorts(choice.preset, c.argv)) ports.add(p.port);
    if (choice.preset.apiserverClient) ports.add(apiserverPortOf(c));
  }
  return { ...choice, ports: [...ports].sort((a, b) => a - b) };
}
