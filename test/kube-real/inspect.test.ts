// `inspect` on the real control plane's binaries (issue 8, defect 7): Debian sid's kubectl (PIE, stripped,
// Go symbols exported in .dynsym, GOPATH build with no module line) and the stripped API server built here.
// Referees: readelf (which symbol table names writeKeyLog), `go version -m` (the build info's path line).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { requireOrSkip } from '../support/env.js';
import { newestGo } from '../support/fixtures.js';
import { kubeControlPlaneBinaries } from '../support/kube.js';
import { cliArgv } from '../support/paths.js';
import { commandExists, runProcess, spawnChecked } from '../support/traffic.js';

const WRITE_KEY_LOG = 'crypto/tls.(*Config).writeKeyLog';

/** Which ELF symbol tables name writeKeyLog, as readelf lists them. */
async function tablesNaming(binary: string): Promise<{ symtab: boolean; dynsym: boolean }> {
  const { stdout } = await spawnChecked('readelf', ['-W', '--syms', '--dyn-syms', binary], { timeoutMs: 60_000 });
  const result = { symtab: false, dynsym: false };
  let table: 'symtab' | 'dynsym' | null = null;
  for (const line of stdout.split('\n')) {
    const header = /^Symbol table '\.(symtab|dynsym)'/.exec(line);
    if (header) table = header[1] as 'symtab' | 'dynsym';
    else if (table && line.trimEnd().endsWith(` ${WRITE_KEY_LOG}`)) result[table] = true;
  }
  return result;
}

test('inspect names the symbol table that named writeKeyLog and the main package of a GOPATH build (Debian kubectl)', async (t) => {
  const binaries = kubeControlPlaneBinaries();
  const go = newestGo();
  if (!requireOrSkip(t, binaries !== null && go !== null, 'the real control plane is not built (bash scripts/setup-kube.sh)')) return;
  if (!requireOrSkip(t, commandExists('readelf'), 'readelf (binutils) is needed')) return;
  for (const binary of [binaries!.kubectl.path, binaries!.upstreamApiserver.path]) {
    const tables = await tablesNaming(binary);
    const { stdout: buildInfo } = await spawnChecked(go!, ['version', '-m', binary]);
    const mainPackage = /^\tpath\t(\S+)$/m.exec(buildInfo)?.[1] ?? null;
    const mainModule = /^\tmod\t(\S+)\t(\S+)/m.exec(buildInfo);

    const run = await runProcess(process.execPath, [...cliArgv(), 'inspect', binary, '--json']);
    assert.equal(run.code, 0, run.stderr);
    const report = JSON.parse(run.stdout) as { stripped: boolean; mainPackage: string | null; mainModule: { path: string } | null; writeKeyLog: { method: string } };
    assert.equal(report.stripped, !tables.symtab && !/\.symtab/.test((await spawnChecked('readelf', ['-S', '-W', binary])).stdout), binary);
    assert.equal(report.writeKeyLog.method, tables.symtab ? 'symtab' : tables.dynsym ? 'dynsym' : 'pclntab', binary);
    assert.equal(report.mainPackage, mainPackage, binary);
    assert.equal(report.mainModule?.path ?? null, mainModule?.[1] ?? null, binary);

    const text = await runProcess(process.execPath, [...cliArgv(), 'inspect', binary]);
    assert.equal(text.code, 0, text.stderr);
    if (tables.dynsym && !tables.symtab) assert.match(text.stdout, /found by the \.dynsym dynamic symbol table/);
    if (mainPackage && !mainModule) assert.match(text.stdout, new RegExp(`main module: +${mainPackage.replaceAll('.', '\\.')} \\(main package`));
    assert.doesNotMatch(text.stdout, /main module: +-$/m);
  }
});
