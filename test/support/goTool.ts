// `go tool nm` as the referee for addresses: what the Go toolchain itself says a symbol's address is,
// parsed without any of gokeylog's code.
import { spawnChecked } from './traffic.js';

export interface NmSymbol {
  address: number;
  /** With `sizes`: the symbol's size in bytes. */
  size?: number;
  type: string;
  name: string;
}

/** Every symbol `go tool nm` lists ("  4a2b40 T crypto/tls.(*Config).writeKeyLog"; with sizes, the size follows the address). */
export async function goToolNm(go: string, file: string, options: { sizes?: boolean } = {}): Promise<NmSymbol[]> {
  const args = options.sizes ? ['tool', 'nm', '-size', '-sort', 'address', file] : ['tool', 'nm', file];
  const { stdout } = await spawnChecked(go, args);
  const symbols: NmSymbol[] = [];
  for (const line of stdout.split('\n')) {
    const m = options.sizes ? /^\s*([0-9a-f]+)\s+(\d+)\s+(\S)\s+(.+)$/.exec(line) : /^\s*([0-9a-f]+)\s+(\S)\s+(.+)$/.exec(line);
    if (!m) continue;
    if (options.sizes) symbols.push({ address: parseInt(m[1]!, 16), size: Number(m[2]), type: m[3]!, name: m[4]! });
    else symbols.push({ address: parseInt(m[1]!, 16), type: m[2]!, name: m[3]! });
  }
  return symbols;
}

export const WRITE_KEY_LOG = 'crypto/tls.(*Config).writeKeyLog';

/** `go tool nm`'s address of writeKeyLog (the ground truth the fixture manifest records), or null without it. */
export async function nmWriteKeyLog(go: string, file: string): Promise<number | null> {
  return (await goToolNm(go, file)).find((s) => s.name === WRITE_KEY_LOG)?.address ?? null;
}
