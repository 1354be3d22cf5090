import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** A folder of the shipped `data/` (signatures, layouts), found from this module whether it runs from src/ (tsx) or dist/src/. */
export function dataDir(name: string): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const candidate = path.join(dir, 'data', name);
    if (existsSync(path.join(dir, 'package.json'))) return candidate;
    const up = path.dirname(dir);
    if (up === dir) return candidate;
    dir = up;
  }
}
