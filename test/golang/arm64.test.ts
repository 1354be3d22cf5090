// The arm64 prologue check and signature cut, checked against Go's own disassembler (go tool objdump).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { checkPrologue } from '../../src/golang/prologue.js';
import { signatureFromCode } from '../../src/golang/signature.js';
import { fileOffsetFromSegments, readelfSegments } from '../support/readelf.js';
import { requireOrSkip } from '../support/env.js';
import { loadFixtures, newestGo } from '../support/fixtures.js';
import { spawnChecked } from '../support/traffic.js';

/** `go tool objdump -s writeKeyLog`: address and Go assembly of each instruction. */
async function goObjdump(go: string, file: string): Promise<{ address: number; text: string }[]> {
  const { stdout } = await spawnChecked(go, ['tool', 'objdump', '-s', 'crypto/tls\\.\\(\\*Config\\)\\.writeKeyLog$', file]);
  const result: { address: number; text: string }[] = [];
  for (const line of stdout.split('\n')) {
    const m = /^\s+\S+:\d+\s+0x([0-9a-f]+)\s+[0-9a-f]{8}\s+(.+?)\s*$/.exec(line);
    if (m) result.push({ address: parseInt(m[1]!, 16), text: m[2]! });
  }
  return result;
}

describe('arm64 writeKeyLog', () => {
  it('has the stack check go tool objdump shows (R16 with the register ABI, R1 before), and a signature cut after the first BL', async (t) => {
    const go = newestGo();
    const fixtures = loadFixtures({ arch: 'arm64', stripped: false }).filter((f) => f.program !== 'notls');
    if (!requireOrSkip(t, go !== null && fixtures.length > 0, 'no arm64 fixtures or Go toolchain (run scripts/setup.sh)')) return;
    for (const fixture of fixtures) {
      const listing = await goObjdump(go!, fixture.path);
      const register = /^MOVD 16\(R28\), (R\d+)$/.exec(listing[0]!.text)?.[1];
      assert.ok(register === 'R16' || register === 'R1', `${fixture.id}: ${listing[0]!.text}`);
      assert.ok(listing.slice(1, 6).some((i) => i.text.startsWith('CMP')) && listing.slice(1, 6).some((i) => i.text.startsWith('BLS')), fixture.id);
      const start = Number(fixture.nmWriteKeyLog);
      const offset = fileOffsetFromSegments(await readelfSegments(fixture.path), start)!;
      const code = readFileSync(fixture.path).subarray(offset, offset + 512);
      const check = checkPrologue('arm64', code);
      assert.ok(check.ok, fixture.id);
      assert.equal(check.abi, register === 'R16' ? 'register' : 'stack', fixture.id);
      const firstCall = listing.find((i) => i.text.startsWith('CALL'))!;
      assert.equal(start + signatureFromCode('arm64', code).pattern.length, firstCall.address + 4, fixture.id);
    }
  });
});
