import { PF_W, PT_LOAD, readPointer, readVaddr, sectionByName, type ElfFile } from '../elf/index.js';

const MAGIC = Buffer.from('\xff Go buildinf:', 'latin1');
const HEADER_SIZE = 32;
/** How far into the data segment Go's own debug/buildinfo looks when there is no .go.buildinfo section. */
const SEARCH_SIZE = 64 * 1024;
const MAX_STRING = 1 << 20;

export interface Module {
  path: string;
  version: string;
}

export interface BuildInfo {
  goVersion: string;
  /** The main package path ("path" line), e.g. "k8s.io/kubernetes/cmd/kubectl". */
  path: string | undefined;
  main: Module | undefined;
  deps: Module[];
  settings: Map<string, string>;
}

/** Parses the text that `go version -m` prints from (runtime/debug.BuildInfo's serialisation). */
export function parseModInfo(goVersion: string, modinfo: string): BuildInfo {
  const info: BuildInfo = { goVersion, path: undefined, main: undefined, deps: [], settings: new Map() };
  for (const line of modinfo.split('\n')) {
    const fields = line.split('\t');
    const [kind, first = '', second = ''] = fields;
    if (kind === 'path') info.path = first;
    else if (kind === 'mod') info.main = { path: first, version: second };
    else if (kind === 'dep') info.deps.push({ path: first, version: second });
    else if (kind === '=>' && info.deps.length > 0) {
      // A replacement of the previous dependency: report what was actually linked.
      info.deps[info.deps.length - 1] = { path: first, version: second };
    } else if (kind === 'build') {
      const eq = first.indexOf('=');
      if (eq > 0) info.settings.set(first.slice(0, eq), first.slice(eq + 1));
    }
  }
  return info;
}

/** modinfo is wrapped in 16-byte sentinels (cmd/go/internal/modload); strip them when present. */
export function stripModInfoSentinels(text: string): string {
  return text.length >= 33 && text[text.length - 17] === '\n' ? text.slice(16, -16) : text;
}

/** Reads an unsigned LEB128 varint at `offset`: [value, next offset], or undefined past the end. */
export function readUvarint(buf: Buffer, offset: number): [number, number] | undefined {
  let value = 0;
  let scale = 1;
  for (let i = offset; i < buf.length && i < offset + 8; i++) {
    const byte = buf[i]!;
    value += (byte & 0x7f) * scale;
    if ((byte & 0x80) === 0) return [value, i + 1];
    scale *= 128;
  }
  return undefined;
}

/** Finds the 16-byte-aligned `\xff Go buildinf:` header: section .go.buildinfo, else the start of writable PT_LOADs. */
async function findHeader(elf: ElfFile): Promise<number | undefined> {
  const section = sectionByName(elf, '.go.buildinfo');
  const starts = section
    ? [{ vaddr: section.addr, size: section.size }]
    : elf.segments.filter((p) => p.type === PT_LOAD && (p.flags & PF_W) !== 0).map((p) => ({ vaddr: p.vaddr, size: p.filesz }));
  for (const { vaddr, size } of starts) {
    const data = await readVaddr(elf, vaddr, Math.min(size, SEARCH_SIZE));
    for (let at = data.indexOf(MAGIC); at >= 0; at = data.indexOf(MAGIC, at + 1)) {
      if ((vaddr + at) % 16 === 0 && at + HEADER_SIZE <= data.length) return vaddr + at;
    }
  }
  return undefined;
}

/** Reads a Go string header (pointer, length) at `vaddr` and the string it points to. */
export async function readGoString(elf: ElfFile, vaddr: number): Promise<string | undefined> {
  const pointer = await readPointer(elf, vaddr);
  const length = Number((await readVaddr(elf, vaddr + 8, 8)).readBigUInt64LE(0));
  if (pointer === 0 || length > MAX_STRING) return undefined;
  return (await readVaddr(elf, pointer, length)).toString('utf8');
}

/**
 * Go's build info: since Go 1.18 the version and modinfo follow the header inline as varint-prefixed strings
 * (flag bit 2); before, the header holds pointers to two Go string headers.
 */
export async function readBuildInfo(elf: ElfFile): Promise<BuildInfo | undefined> {
  const at = await findHeader(elf);
  if (at === undefined) return undefined;
  const header = await readVaddr(elf, at, HEADER_SIZE);
  const ptrSize = header[14];
  const flags = header[15]!;
  if (ptrSize !== 8 || (flags & 1) !== 0) return undefined;
  let version: string | undefined;
  let modinfo: string | undefined;
  if ((flags & 2) !== 0) {
    const segmentEnd = elf.segments.find((p) => p.type === PT_LOAD && at >= p.vaddr && at < p.vaddr + p.filesz);
    const available = segmentEnd ? segmentEnd.vaddr + segmentEnd.filesz - at : HEADER_SIZE;
    const data = await readVaddr(elf, at, Math.min(available, SEARCH_SIZE));
    const strings: string[] = [];
    let offset = HEADER_SIZE;
    for (let i = 0; i < 2; i++) {
      const length = readUvarint(data, offset);
      if (!length || length[1] + length[0] > data.length) break;
      strings.push(data.toString('utf8', length[1], length[1] + length[0]));
      offset = length[1] + length[0];
    }
    [version, modinfo] = strings;
  } else {
    version = await readGoString(elf, await readPointer(elf, at + 16)).catch(() => undefined);
    modinfo = await readGoString(elf, await readPointer(elf, at + 24)).catch(() => undefined);
  }
  if (!version || !/^(go1|devel)/.test(version)) return undefined;
  return parseModInfo(version, stripModInfoSentinels(modinfo ?? ''));
}

/** Module path prefixes worth naming in a report: what the program is, at a glance. */
const NOTABLE = ['k8s.io/', 'go.etcd.io/', 'github.com/coreos/etcd', 'google.golang.org/grpc', 'golang.org/x/net', 'connectrpc.com/', 'github.com/bufbuild/', 'github.com/evanw/esbuild', 'github.com/prometheus/client_golang'];

export const notableDependencies = (info: BuildInfo): Module[] => info.deps.filter((d) => NOTABLE.some((prefix) => d.path.startsWith(prefix)));
