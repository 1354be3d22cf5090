// The tree's layers, declared once: a folder of src/ may import its own files and folders of lower layers,
// never a folder of its own layer or above (so no cycle between folders either). Libraries sit below the
// features that combine them; the CLI is on top. Also: only the CLI owns the process (signals, exit), and
// file names follow one convention (camelCase), private members one form (#x).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { repoRoot } from '../support/paths.js';

/** Lowest first. Folders of one layer are independent of each other. */
const LAYERS: readonly (readonly string[])[] = [
  ['util'],
  // libraries: binaries, packets
  ['elf', 'net'],
  ['golang', 'keylog', 'pcap', 'tls'],
  ['probe', 'http'],
  ['kube'],
  ['report'],
  // features: one per command, each combining libraries
  // conns is a feature and also what keylog --midstream and analyze --conns build on
  ['conns'],
  ['capture', 'inject', 'analyze', 'keylogger', 'status'],
  ['demo'],
  ['cli'],
];

const rank = new Map(LAYERS.flatMap((folders, i) => folders.map((f) => [f, i] as const)));
const src = path.join(repoRoot(), 'src');

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const file = path.join(dir, name);
    return statSync(file).isDirectory() ? sourceFiles(file) : name.endsWith('.ts') ? [file] : [];
  });
}

/** Module specifiers of static imports, re-exports and dynamic imports. */
function specifiers(text: string): string[] {
  const found: string[] = [];
  for (const m of text.matchAll(/(?:^|\n)\s*(?:import|export)\b[^'"]*?\bfrom\s+'([^']+)'|\bimport\(\s*'([^']+)'\s*\)|(?:^|\n)\s*import\s+'([^']+)'/g)) {
    found.push((m[1] ?? m[2] ?? m[3])!);
  }
  return found;
}

const folderOf = (file: string): string => path.relative(src, file).split(path.sep)[0]!;

test('every folder of src/ has a layer', () => {
  const folders = readdirSync(src).filter((name) => statSync(path.join(src, name)).isDirectory());
  for (const folder of folders) assert.ok(rank.has(folder), `src/${folder} is in no layer: declare it in LAYERS (test/architecture/layers.test.ts)`);
});

test('imports between folders only look down', () => {
  const violations: string[] = [];
  for (const file of sourceFiles(src)) {
    const from = folderOf(file);
    for (const spec of specifiers(readFileSync(file, 'utf8'))) {
      if (!spec.startsWith('.')) continue; // node: and npm packages
      const target = path.resolve(path.dirname(file), spec);
      if (!target.startsWith(src + path.sep)) {
        violations.push(`${path.relative(src, file)} imports ${spec}, outside src/`);
        continue;
      }
      const to = folderOf(target);
      if (to === from) continue;
      if (!(rank.get(to)! < rank.get(from)!)) {
        violations.push(`${path.relative(src, file)} (layer ${rank.get(from)}) imports ${to}/ (layer ${rank.get(to)})`);
      }
    }
  }
  assert.deepEqual(violations, []);
});

test('the check sees an upward import (it can fail)', () => {
  // A library importing a feature, as net/ once imported pcap/: the rank comparison refuses it.
  assert.ok(!(rank.get('pcap')! < rank.get('net')!));
  assert.ok(!(rank.get('cli')! < rank.get('analyze')!));
  assert.deepEqual(specifiers("import { a } from '../pcap/index.js';\nexport { b } from './b.js';\nconst c = await import('./c.js');"), ['../pcap/index.js', './b.js', './c.js']);
});

test('only the CLI installs process-wide handlers (signals, exit) and sets the exit code', () => {
  const offenders = sourceFiles(src)
    .filter((file) => folderOf(file) !== 'cli')
    .filter((file) => /\bprocess\.(on|once|addListener|prependListener)\(|\bprocess\.exitCode\s*=/.test(readFileSync(file, 'utf8')))
    .map((file) => path.relative(src, file));
  assert.deepEqual(offenders, []);
});

// Modules are camelCase; scripts/ holds commands, named in kebab-case like the shell scripts beside them.
test('one file naming convention: camelCase .ts modules, no kebab-case', () => {
  const kebab = ['src', 'test', 'bench']
    .flatMap((dir) => sourceFiles(path.join(repoRoot(), dir)))
    .filter((file) => path.basename(file).includes('-'))
    .map((file) => path.relative(repoRoot(), file));
  assert.deepEqual(kebab, []);
});

// Private members are #x, not TypeScript `private`: enforced at run time (secrets stay out of inspect/JSON/spread), no slower in net/tls/http/pcap.
const TS_PRIVATE = /(?:^|[(,])\s*private\s+(?!constructor\b)/m; // `private constructor` has no ECMAScript form

test('one private-member convention: #x, never TypeScript `private`', () => {
  const offenders = ['src', 'test', 'bench']
    .flatMap((dir) => sourceFiles(path.join(repoRoot(), dir)))
    .map((file) => path.relative(repoRoot(), file))
    .filter((file) => file !== 'test/architecture/layers.test.ts') // its samples below
    .filter((file) => TS_PRIVATE.test(readFileSync(path.join(repoRoot(), file), 'utf8')));
  assert.deepEqual(offenders, []);
  // It can fail: a field, a method and a parameter property are seen; a private constructor and prose are not.
  assert.ok(TS_PRIVATE.test('class A {\n  private readonly x = 1;\n}'));
  assert.ok(TS_PRIVATE.test('class A {\n  private static f(): void {}\n}'));
  assert.ok(TS_PRIVATE.test('class A {\n  constructor(private readonly x: number) {}\n}'));
  assert.ok(!TS_PRIVATE.test('class A {\n  private constructor() {}\n  #x = 1;\n}\n// a private mount namespace\n'));
});
