import { ET_DYN, PT_DYNAMIC, PT_INTERP, findSymbols, hasSymtab, readElf, readVaddr, sectionByName, vaddrToFileOffset, withFile, type ElfFile } from '../elf/index.js';
import { GokeylogError } from '../util/errors.js';
import { writeKeyLogArgs, type WriteKeyLogArgs } from './args.js';
import { shortName, WRITE_KEY_LOG } from './functions.js';
import { archOf, findFunction, functionEnd, isFunctionEntry, openGoBinary, type GoBinary, type TextStartSource } from './binary.js';
import { builtinSignatures } from './builtinSignatures.js';
import { findBuildVersion } from './buildVersion.js';
import { notableDependencies, readBuildInfo, readGoString, type BuildInfo, type Module } from './buildinfo.js';
import type { PclntabSource } from './findPclntab.js';
import { PROLOGUE_BYTES, checkPrologue, hexBytes } from './prologue.js';
import { searchSignature, signatureFromCode, type Signature } from './signature.js';
import { PCLNTAB_FORMATS, abiForFormat, abiForMinor, goMinor, goRelease, versionRangeOfFormat, type GoAbi, type GoArch, type PclntabFormat } from './version.js';

export { WRITE_KEY_LOG } from './functions.js';

export type GoVersionSource = 'buildinfo' | 'runtime.buildVersion' | 'pclntab';
export type LocateMethod = 'symtab' | 'dynsym' | 'pclntab' | 'signature';

export interface InspectReport {
  path: string;
  arch: GoArch;
  elfType: 'EXEC' | 'DYN';
  pie: boolean;
  linking: 'static' | 'dynamic';
  cgo: boolean;
  stripped: boolean;
  goVersion: string;
  goVersionSource: GoVersionSource;
  mainModule: Module | null;
  /** The main package's import path from the build info ("path" line), also for GOPATH builds without a module. */
  mainPackage: string | null;
  dependencies: Module[];
  abi: GoAbi;
  pclntab: { vaddr: number; format: PclntabFormat; functionCount: number; source: PclntabSource };
  textStart: { vaddr: number; source: TextStartSource };
  writeKeyLog: { vaddr: number; fileOffset: number; method: LocateMethod; validated: true; args: WriteKeyLogArgs };
}

export interface InspectOptions {
  /** An unstripped binary built by the same Go release: locate writeKeyLog by its code bytes. */
  reference?: string;
}

/**
 * Everything `gokeylog inspect` reports. Throws a GokeylogError (one sentence) unless writeKeyLog was found and
 * its entry carries Go's stack-check prologue.
 */
export function inspectBinary(path: string, options: InspectOptions = {}): Promise<InspectReport> {
  return withFile(path, async (reader) => {
    const elf = await readElf(reader);
    const buildInfo = await readBuildInfo(elf);
    const binary = await openGoBinary(elf);
    if (!binary) {
      const why = buildInfo ? 'it has Go build info but no pclntab' : 'it has no Go build info and no pclntab';
      throw new GokeylogError(`${path} is not a Go binary (${why}).`, 'GOKEYLOG_ERR_UNSUPPORTED_BINARY');
    }
    const { version, source: goVersionSource } = await goVersion(elf, binary, buildInfo);
    const { vaddr, fileOffset, method, abi } = await locateAndValidate(binary, WRITE_KEY_LOG, version, options);
    const linking = elf.segments.some((p) => p.type === PT_INTERP || p.type === PT_DYNAMIC) ? 'dynamic' : 'static';
    return {
      path,
      arch: binary.arch,
      elfType: elf.header.type === ET_DYN ? 'DYN' : 'EXEC',
      pie: elf.header.type === ET_DYN,
      linking,
      cgo: usesCgo(elf, binary, buildInfo, linking),
      stripped: !hasSymtab(elf),
      goVersion: version,
      goVersionSource,
      mainModule: buildInfo?.main ?? null,
      mainPackage: buildInfo?.path ?? null,
      dependencies: buildInfo ? notableDependencies(buildInfo) : [],
      abi,
      pclntab: { vaddr: binary.pcln.vaddr, format: binary.pcln.header.format, functionCount: binary.pcln.header.nfunc, source: binary.pclntabSource },
      textStart: { vaddr: binary.textStart, source: binary.textStartSource },
      writeKeyLog: { vaddr, fileOffset, method, validated: true, args: writeKeyLogArgs(binary.arch, abi) },
    };
  });
}

/**
 * Build info first; then the runtime.buildVersion string (by its symbol, or without symbols by its string
 * header in data, see findBuildVersion) when its release fits the pclntab format; last, the format's range.
 */
export async function goVersion(elf: ElfFile, binary: GoBinary, buildInfo: BuildInfo | undefined): Promise<{ version: string; source: GoVersionSource }> {
  if (buildInfo) return { version: buildInfo.goVersion, source: 'buildinfo' };
  const symbol = (await findSymbols(elf, ['runtime.buildVersion'])).get('runtime.buildVersion');
  const version = symbol ? await readGoString(elf, symbol.value).catch(() => undefined) : await findBuildVersion(elf);
  const { firstMinor, lastMinor } = PCLNTAB_FORMATS[binary.pcln.header.format];
  const minor = version && /^go1\.\d+/.test(version) ? goMinor(version) : undefined;
  if (minor !== undefined && minor >= firstMinor && (lastMinor === undefined || minor <= lastMinor)) return { version: version!, source: 'runtime.buildVersion' };
  return { version: versionRangeOfFormat(binary.pcln.header.format), source: 'pclntab' };
}

/** CGO_ENABLED from build info when recorded (Go 1.18+); else a dynamic or externally linked binary. */
function usesCgo(elf: ElfFile, binary: GoBinary, buildInfo: BuildInfo | undefined, linking: string): boolean {
  const setting = buildInfo?.settings.get('CGO_ENABLED');
  if (setting !== undefined) return setting === '1';
  const text = sectionByName(elf, '.text');
  return linking === 'dynamic' || (text !== undefined && text.addr !== binary.textStart);
}

interface Located {
  vaddr: number;
  method: LocateMethod;
}

/** A function gokeylog may probe: located, its entry validated, with the file offset a uprobe takes. */
export interface ValidatedEntry extends Located {
  fileOffset: number;
  abi: GoAbi;
}

/**
 * Locates `fn` (symtab, pclntab, then signatures) and validates its entry (a function entry with Go's
 * stack-check prologue for the ABI of `version`). Throws a GokeylogError (notFound / unsupportedInput) otherwise.
 */
export async function locateAndValidate(binary: GoBinary, fn: string, version: string, options: InspectOptions = {}): Promise<ValidatedEntry> {
  const located = await locateFunction(binary, fn, version, options);
  const abi = await validate(binary, located, version, fn);
  const fileOffset = vaddrToFileOffset(binary.elf, located.vaddr);
  if (fileOffset === undefined) throw new GokeylogError(`${binary.elf.reader.path}: ${shortName(fn)} at 0x${located.vaddr.toString(16)} is in no PT_LOAD segment.`, 'GOKEYLOG_ERR_WRITEKEYLOG_NOT_FOUND');
  return { ...located, fileOffset, abi };
}

async function locateFunction(binary: GoBinary, fn: string, version: string, options: InspectOptions): Promise<Located> {
  const path = binary.elf.reader.path;
  const name = shortName(fn);
  const byName = await findFunction(binary, fn);
  if (options.reference) {
    // The caller asked for the signature method: use it, and cross-check it against the names when there are any.
    const vaddr = await searchUnique(binary, [await referenceSignature(options.reference, binary.arch, fn)], `the signature of ${name} from ${options.reference}`);
    if (byName && byName.vaddr !== vaddr) {
      throw new GokeylogError(
        `${path}: the reference signature matches at 0x${vaddr.toString(16)} but the ${byName.method} names ${name} at 0x${byName.vaddr.toString(16)}.`,
        'GOKEYLOG_ERR_WRITEKEYLOG_NOT_FOUND',
      );
    }
    return { vaddr, method: 'signature' };
  }
  if (byName) return byName;
  const names = await binary.functionNames();
  const signatures = builtinSignatures(binary.arch, releaseFilter(binary, version), fn).map((s) => s.signature);
  if (signatures.length > 0) {
    const hits = await searchAll(binary, signatures);
    if (hits.length === 1) return { vaddr: hits[0]!, method: 'signature' };
    if (hits.length > 1) {
      throw new GokeylogError(`${path}: ${name} is not named and the built-in signatures match ${hits.length} functions; try --reference.`, 'GOKEYLOG_ERR_WRITEKEYLOG_NOT_FOUND');
    }
  }
  // Some programs link a few crypto/tls helpers (types, init) but no connection code, hence no writeKeyLog.
  if (!names.includes('crypto/tls.(*Conn).')) {
    throw new GokeylogError(`${path} is a Go binary without crypto/tls connection code: it makes no TLS connections to read.`, 'GOKEYLOG_ERR_UNSUPPORTED_BINARY');
  }
  throw new GokeylogError(
    `${path}: ${name} was not found (not named in the symbol table or pclntab, and no built-in signature for ${version} ${binary.arch} matched); try --reference with an unstripped binary built by the same Go release.`,
    'GOKEYLOG_ERR_WRITEKEYLOG_NOT_FOUND',
  );
}

/** Releases whose signatures are worth trying: the exact one when known, else those of the pclntab format. */
function releaseFilter(binary: GoBinary, version: string): (release: string) => boolean {
  const exact = goRelease(version);
  if (exact && /^go1\.\d+(\.\d+)?$|^go1\.\d+(rc|beta)\d+$/.test(version)) return (release) => release === exact;
  const { firstMinor, lastMinor } = PCLNTAB_FORMATS[binary.pcln.header.format];
  return (release) => {
    const minor = goMinor(`go${release}`);
    return minor !== undefined && minor >= firstMinor && (lastMinor === undefined || minor <= lastMinor);
  };
}

/** Matches of all signatures, kept only where a function starts (the pclntab knows every entry). */
async function searchAll(binary: GoBinary, signatures: Signature[]): Promise<number[]> {
  const hits = new Set<number>();
  for (const signature of signatures) {
    for (const vaddr of await searchSignature(binary.elf, signature, binary.textStart, binary.textEnd)) {
      if (isFunctionEntry(binary, vaddr)) hits.add(vaddr);
    }
  }
  return [...hits].sort((a, b) => a - b);
}

async function searchUnique(binary: GoBinary, signatures: Signature[], what: string): Promise<number> {
  const hits = await searchAll(binary, signatures);
  if (hits.length === 1) return hits[0]!;
  const path = binary.elf.reader.path;
  if (hits.length === 0) throw new GokeylogError(`${path}: ${what} matches no function (was the reference built by the same Go release and architecture?).`, 'GOKEYLOG_ERR_WRITEKEYLOG_NOT_FOUND');
  throw new GokeylogError(`${path}: ${what} is ambiguous: it matches ${hits.length} functions (${hits.map((h) => `0x${h.toString(16)}`).join(', ')}).`, 'GOKEYLOG_ERR_WRITEKEYLOG_NOT_FOUND');
}

/**
 * How many calls a function's signature runs to: writeKeyLog's code up to its first call is its own, but
 * (*Conn).Read and Write begin like other crypto/tls methods (the same first call), so theirs go further.
 */
const signedCalls = (fn: string): number => (fn === WRITE_KEY_LOG ? 1 : 3);

/** A function's code (writeKeyLog unless said) in the reference binary, from entry to its signedCalls-th call, as a signature. */
export function referenceSignature(reference: string, arch: GoArch, fn = WRITE_KEY_LOG): Promise<Signature> {
  return withFile(reference, async (reader) => {
    const elf = await readElf(reader);
    if (archOf(elf) !== arch) throw new GokeylogError(`the reference ${reference} is built for ${archOf(elf)}, the target for ${arch}.`, 'GOKEYLOG_ERR_USAGE');
    const binary = await openGoBinary(elf);
    const found = binary ? await findFunction(binary, fn) : undefined;
    if (!binary || !found) throw new GokeylogError(`the reference ${reference} has no named ${shortName(fn)} (it must be a Go binary with crypto/tls and symbols).`, 'GOKEYLOG_ERR_USAGE');
    const end = functionEnd(binary, found.vaddr) ?? found.vaddr + 512;
    return signatureFromCode(arch, await readVaddr(elf, found.vaddr, Math.min(512, end - found.vaddr)), signedCalls(fn));
  });
}

/**
 * A candidate must be a function entry that carries Go's stack-check prologue, in the form of the ABI its Go
 * version uses (the form itself tells the ABI when the version is not exactly known). Returns the ABI.
 */
async function validate(binary: GoBinary, located: Located, version: string, fn: string): Promise<GoAbi> {
  const where = `${shortName(fn)} candidate at 0x${located.vaddr.toString(16)} (found by ${located.method})`;
  const path = binary.elf.reader.path;
  if (!isFunctionEntry(binary, located.vaddr)) {
    throw new GokeylogError(`${path}: the ${where} is not a function entry in the pclntab.`, 'GOKEYLOG_ERR_NOT_VALIDATED');
  }
  const bytes = await readVaddr(binary.elf, located.vaddr, PROLOGUE_BYTES);
  const check = checkPrologue(binary.arch, bytes);
  if (!check.ok) {
    throw new GokeylogError(`${path}: the ${where} does not start with Go's ${binary.arch} stack-check prologue; its first bytes are ${check.seen}.`, 'GOKEYLOG_ERR_NOT_VALIDATED');
  }
  const minor = goMinor(version);
  const format = binary.pcln.header.format;
  const expected = minor !== undefined && !version.includes('-') && !version.endsWith('+') ? abiForMinor(binary.arch, minor) : abiForFormat(binary.arch, format);
  if (expected && expected !== check.abi) {
    throw new GokeylogError(
      `${path}: the ${where} has a ${check.abi}-ABI prologue (${check.shape}) but ${version} on ${binary.arch} uses the ${expected} ABI; first bytes ${hexBytes(bytes)}.`,
      'GOKEYLOG_ERR_NOT_VALIDATED',
    );
  }
  return check.abi;
}
