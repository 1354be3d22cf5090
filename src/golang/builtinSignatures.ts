import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { dataDir } from '../util/dataDir.js';
import { signatureFromJson, type Signature } from './signature.js';
import { WRITE_KEY_LOG } from './functions.js';
import type { GoAbi, GoArch } from './version.js';

/** One entry of data/signatures/go1.X.json (written by scripts/gen-signatures.ts). */
export interface SignatureEntry {
  /** The function (its pclntab name); absent in entries of writeKeyLog, the first function signed. */
  function?: string;
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

export const signaturesDir = (): string => dataDir('signatures');

export interface BuiltinSignature {
  release: string;
  abi: GoAbi;
  signature: Signature;
}

/** The built-in signatures of `fn` for `arch`, limited to `releases` when given (e.g. ["1.21"], or a format's range). */
export function builtinSignatures(arch: GoArch, releases?: (release: string) => boolean, fn = WRITE_KEY_LOG): BuiltinSignature[] {
  const dir = signaturesDir();
  if (!existsSync(dir)) return [];
  const result: BuiltinSignature[] = [];
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.json')).sort()) {
    const data = JSON.parse(readFileSync(path.join(dir, file), 'utf8')) as SignatureFile;
    if (releases && !releases(data.release)) continue;
    for (const entry of data.signatures) {
      if (entry.arch === arch && (entry.function ?? WRITE_KEY_LOG) === fn) result.push({ release: data.release, abi: entry.abi, signature: signatureFromJson(arch, entry) });
    }
  }
  return result;
}
