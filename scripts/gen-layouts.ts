// Regenerates data/layouts/go1.X.json: for each Go toolchain of the matrix, the offsets of the crypto/tls and
// net fields `gokeylog conns` reads, for amd64 and arm64, as scripts/layouts measures them (reflect on amd64,
// go/types for both, each checked against the DWARF of that toolchain's unstripped tlsserver fixture).
// Run after scripts/build-fixtures.sh:  node --import tsx scripts/gen-layouts.ts
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { LayoutFile } from '../src/conns/layout.js';
import { goRelease } from '../src/golang/version.js';
import { dataDir } from '../src/util/dataDir.js';
import { goToolchains } from '../test/support/fixtures.js';
import { measureLayouts } from '../test/support/layouts.js';

const dir = dataDir('layouts');
mkdirSync(dir, { recursive: true });
for (const { version } of goToolchains()) {
  const { goVersion, layouts } = await measureLayouts(version);
  const release = goRelease(goVersion)!;
  const file: LayoutFile = { release, goVersion, layouts };
  writeFileSync(path.join(dir, `go${release}.json`), `${JSON.stringify(file, null, 1)}\n`);
  process.stdout.write(`go${release} (${goVersion}): ${layouts.map((l) => `${l.arch} Conn.in=${l.structs['tls.Conn']!.fields.in}`).join(', ')}\n`);
}
