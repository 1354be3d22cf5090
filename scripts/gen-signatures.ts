// Regenerates data/signatures/go1.X.json: for each Go release × arch × ABI of the fixture matrix, the
// signatures of crypto/tls.(*Config).writeKeyLog and of (*Conn).Read/Write (what `conns` probes; entry to
// signed calls, layout-dependent bytes masked) taken from the unstripped fixtures. Identical signatures are stored once, with the fixtures that gave them.
// Run after scripts/build-fixtures.sh:  node --import tsx scripts/gen-signatures.ts
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { signaturesDir, type SignatureEntry, type SignatureFile } from '../src/golang/builtinSignatures.js';
import { CONN_READ, CONN_WRITE, WRITE_KEY_LOG } from '../src/golang/functions.js';
import { inspectBinary, referenceSignature } from '../src/golang/inspect.js';
import { signatureToJson } from '../src/golang/signature.js';
import { goRelease } from '../src/golang/version.js';
import { fixtureManifestPath, readFixtureManifest } from '../src/util/fixtureManifest.js';

const manifest = readFixtureManifest();
if (!manifest) throw new Error(`no ${fixtureManifestPath()}: run scripts/build-fixtures.sh first`);
const byRelease = new Map<string, SignatureEntry[]>();
for (const fixture of manifest.fixtures.filter((f) => !f.stripped && f.program !== 'notls')) {
  const release = goRelease(fixture.goVersion);
  if (!release) continue;
  const report = await inspectBinary(fixture.path);
  const entries = byRelease.get(release) ?? [];
  for (const fn of [WRITE_KEY_LOG, CONN_READ, CONN_WRITE]) {
    const json = signatureToJson(await referenceSignature(fixture.path, report.arch, fn));
    // writeKeyLog's entries carry no function name: the files read the same as before Read/Write were signed.
    const named = fn === WRITE_KEY_LOG ? {} : { function: fn };
    const same = entries.find((e) => (e.function ?? WRITE_KEY_LOG) === fn && e.arch === report.arch && e.abi === report.abi && e.pattern === json.pattern && e.mask === json.mask);
    if (same) same.from.push(fixture.id);
    else entries.push({ ...named, arch: report.arch, abi: report.abi, ...json, from: [fixture.id] });
  }
  byRelease.set(release, entries);
}

const dir = signaturesDir();
mkdirSync(dir, { recursive: true });
for (const [release, signatures] of [...byRelease].sort()) {
  const file: SignatureFile = { release, signatures };
  writeFileSync(path.join(dir, `go${release}.json`), `${JSON.stringify(file, null, 1)}\n`);
  process.stdout.write(`go${release}: ${signatures.length} signature(s) from ${signatures.reduce((n, s) => n + s.from.length, 0)} fixtures\n`);
}
