import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { signatureFromJson, type Signature } from './signature.js';
import type { GoAbi, GoArch } from './version.js';

/** One entry of data/signatures/go1.X.json (written by scripts/gen-signatures.ts). */
export interface SignatureEntry {
  arch: GoArch;
  abi: GoAbi;
  pattern: string;
  mask: string;
  /** Fixture ids the signature was taken from (all gave these same bytes). */
  from: string[];
}

export interface SignatureFile {
  release: string;
  signatures: SignatureEntry[];
}

/** The shipped data folder, found from this module whether it runs from src/ (tsx) or dist/src/. */
export function signaturesDir(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const candidate = path.join(dir, 'data', 'signatures');
    if (existsSync(path.join(dir, 'package.json'))) return candidate;
    const up = path.dirname(dir);
    if (up === dir) return candidate;
    dir = up;
  }
}

export interface BuiltinSignature {
  release: string;
  abi: GoAbi;
  signature: Signature;
}

/** The built-in signatures for `arch`, limited to `releases` when given (e.g. ["1.21"], or a format's range). */
export function builtinSignatures(arch: GoArch, releases?: (release: string) => boolean): BuiltinSignature[] {
  const dir = signaturesDir();
  if (!existsSync(dir)) return [];
  const result: BuiltinSignature[] = [];
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.json')).sort()) {
    const data = JSON.parse(readFileSync(path.join(dir, file), 'utf8')) as SignatureFile;
    if (releases && !releases(data.release)) continue;
    for (const entry of data.signatures) {
      if (entry.arch === arch) result.push({ release: data.release, abi: entry.abi, signature: signatureFromJson(arch, entry) });
    }
  }
  return result;
}
