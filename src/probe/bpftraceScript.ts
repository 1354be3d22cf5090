import type { HookPlan } from '../golang/index.js';
import { GokeylogError } from '../util/errors.js';
import { bpftraceLocation, type ProbeArgs } from './fetchArgs.js';
import type { ProbeRecord } from './events.js';

/** What a bpftrace probe needs: where to attach and how to read the arguments. */
export type BpftraceTarget = ProbeArgs & Pick<HookPlan, 'fileOffset'> & { path: string };

/** First word of each key line the script prints. */
export const BPFTRACE_LINE_TAG = 'gokeylog';
/** Printed by BEGIN, which bpftrace runs once every probe is attached ("Attaching N probes" comes before that). */
export const BPFTRACE_READY_LINE = 'gokeylog: attached';

/**
 * The probes for one binary. On each writeKeyLog entry it prints
 * `gokeylog <tgid> <tid> <monotonic ns> <label> <\xNN client random> <\xNN secret> <comm>`;
 * `%rx` (bpftrace ≥ 0.17) prints every byte as `\xNN`, so no byte can be mistaken for text, and the
 * command name goes last because it may hold blanks. The probe is at the file offset: bpftrace 0.17 needs
 * it (with --unsafe) for stripped binaries, and a virtual address could land mid-instruction.
 */
export function bpftraceProbe(t: BpftraceTarget): string {
  if (/[\s"]/.test(t.path)) {
    throw new GokeylogError(`cannot probe ${JSON.stringify(t.path)} with bpftrace: the path holds blanks or quotes (select the process with --pid, which probes /proc/PID/exe).`, 'GOKEYLOG_ERR_UNPROBEABLE_PATH');
  }
  const loc = (l: Parameters<typeof bpftraceLocation>[1]): string => bpftraceLocation(t.arch, l);
  const a = t.args;
  return [
    `BEGIN { printf("${BPFTRACE_READY_LINE}\\n"); }`,
    '',
    `uprobe:${t.path}:0x${t.fileOffset.toString(16)}`,
    '{',
    `  printf("${BPFTRACE_LINE_TAG} %d %d %llu %s %rx %rx %s\\n", pid, tid, nsecs,`,
    `    str(${loc(a.labelPtr)}, ${loc(a.labelLen)}),`,
    `    buf(${loc(a.clientRandomPtr)}, ${loc(a.clientRandomLen)}),`,
    `    buf(${loc(a.secretPtr)}, ${loc(a.secretLen)}),`,
    '    comm);',
    '}',
  ].join('\n');
}

/** A whole script for users to run themselves, with the hook's provenance and the command that turns its output into a key log. */
export function bpftraceScript(t: BpftraceTarget, plan: Pick<HookPlan, 'goVersion' | 'abi' | 'method' | 'vaddr'>): string {
  return [
    '#!/usr/bin/env bpftrace',
    `// crypto/tls.(*Config).writeKeyLog in ${t.path}`,
    `// ${plan.goVersion}, ${t.arch}, ${plan.abi} ABI; found by ${plan.method} at 0x${plan.vaddr.toString(16)} (file offset 0x${t.fileOffset.toString(16)}).`,
    '// Entry probe only: a uretprobe would corrupt Go stacks. The entry can fire twice per call: drop duplicate lines.',
    '// Run it and keep an NSS key log:',
    `//   sudo bpftrace --unsafe THIS_FILE | awk '$1=="${BPFTRACE_LINE_TAG}" { gsub(/\\\\x/, "", $6); gsub(/\\\\x/, "", $7); print $5, $6, $7; fflush() }' > keylog.txt`,
    '',
    bpftraceProbe(t),
    '',
  ].join('\n');
}

const KEY_LINE = new RegExp(`^${BPFTRACE_LINE_TAG} (\\d+) (\\d+) (\\d+) (\\S*) ((?:\\\\x[0-9a-f]{2})*) ((?:\\\\x[0-9a-f]{2})*) (.*)$`);
const LOST_LINE = /Lost (\d+) events/;

/** Parses one output line of a script made by `bpftraceProbe`; `probe` names the binary it was attached to. */
export function parseBpftraceLine(line: string, probe: string): ProbeRecord {
  const lost = LOST_LINE.exec(line);
  if (lost) return { kind: 'lost', count: Number(lost[1]) };
  if (!line.startsWith(`${BPFTRACE_LINE_TAG} `)) return { kind: 'other' };
  const m = KEY_LINE.exec(line);
  if (!m) return { kind: 'malformed', reason: 'unreadable bpftrace line' };
  return {
    kind: 'key',
    event: {
      probe,
      tgid: Number(m[1]),
      tid: Number(m[2]),
      timeNs: BigInt(m[3]!),
      label: new Uint8Array(Buffer.from(m[4]!, 'latin1')),
      clientRandom: escapedHexBytes(m[5]!),
      secret: escapedHexBytes(m[6]!),
      comm: m[7]!,
    },
  };
}

/** `\x0a\x1b` → bytes (the regex already checked the shape). */
function escapedHexBytes(text: string): Uint8Array {
  return new Uint8Array(Buffer.from(text.replaceAll('\\x', ''), 'hex'));
}
