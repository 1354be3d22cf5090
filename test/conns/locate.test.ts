import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { CONN_READ, CONN_WRITE, planConnHooks } from '../../src/golang/index.js';
import { requireOrSkip } from '../support/env.js';
import { loadFixtures, newestGo } from '../support/fixtures.js';
import { spawnChecked } from '../support/traffic.js';

const scratch = mkdtempSync(path.join(os.tmpdir(), 'gokeylog-connlocate-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

/** `go tool nm` of the unstripped twin (the referee): (*Conn).Read and Write (local "t" symbols in externally linked binaries). */
async function nm(go: string, twin: string): Promise<{ read: number; write: number }> {
  const { stdout } = await spawnChecked(go, ['tool', 'nm', twin]);
  const at = (fn: string): number => Number(`0x${stdout.split('\n').find((l) => / [Tt] /.test(l) && l.endsWith(` ${fn}`))!.trim().split(/\s+/)[0]}`);
  return { read: at(CONN_READ), write: at(CONN_WRITE) };
}

test('(*Conn).Read and Write are located where go tool nm says, in every stripped server of the matrix, also by signature once their names are gone', async (t) => {
  const go = newestGo();
  const fixtures = loadFixtures({ program: 'tlsserver', stripped: true });
  if (!requireOrSkip(t, go !== null && fixtures.length > 0, 'no fixtures (run scripts/setup.sh)')) return;
  for (const fixture of fixtures) {
    const truth = await nm(go!, fixture.twin!);
    const plan = await planConnHooks(fixture.path);
    assert.deepEqual([plan.read.vaddr, plan.write.vaddr], [truth.read, truth.write], fixture.id);
    assert.equal(plan.read.method, 'pclntab', fixture.id);
    assert.equal(plan.goVersion, fixture.goVersion);
    // The names gone from the pclntab: the built-in signatures (scripts/gen-signatures.ts) must find the same entries.
    const bytes = readFileSync(fixture.path);
    for (const fn of [CONN_READ, CONN_WRITE]) {
      const name = Buffer.from(`${fn}\0`, 'latin1');
      for (let at = bytes.indexOf(name); at >= 0; at = bytes.indexOf(name, at + 1)) bytes.fill(0x78, at, at + name.length - 1);
    }
    const copy = path.join(scratch, 'obfuscated');
    writeFileSync(copy, bytes);
    const bySignature = await planConnHooks(copy);
    assert.deepEqual([bySignature.read.method, bySignature.write.method], ['signature', 'signature'], fixture.id);
    assert.deepEqual([bySignature.read.vaddr, bySignature.write.vaddr], [truth.read, truth.write], `${fixture.id} by signature`);
  }
});

test('a binary whose (*Conn).Read entry does not carry the stack-check prologue is refused', async (t) => {
  const fixture = loadFixtures({ program: 'tlsserver', arch: 'amd64', mode: 'exe', stripped: true }).at(-1);
  if (!requireOrSkip(t, fixture !== undefined, 'no fixtures (run scripts/setup.sh)')) return;
  const plan = await planConnHooks(fixture!.path);
  const bytes = readFileSync(fixture!.path);
  bytes.fill(0x90, plan.read.fileOffset, plan.read.fileOffset + 16); // NOPs over the prologue
  const copy = path.join(scratch, 'noprologue');
  writeFileSync(copy, bytes);
  await assert.rejects(planConnHooks(copy), /\(\*Conn\)\.Read candidate .* does not start with Go's amd64 stack-check prologue/);
});
