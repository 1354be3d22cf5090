// The x86-64 length decoder behind signatures, checked against objdump on the Go compiler's real output.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { signatureFromCode } from '../../src/golang/signature.js';
import { decodeX86 } from '../../src/golang/x86.js';
import { fileOffsetFromSegments, readelfSegments, readelfSymbol } from '../support/readelf.js';
import { requireOrSkip } from '../support/env.js';
import { loadFixtures } from '../support/fixtures.js';
import { spawnChecked } from '../support/traffic.js';

/** objdump's instructions in [start, end): address and mnemonic. */
async function objdump(file: string, start: number, end: number): Promise<{ address: number; text: string }[]> {
  const { stdout } = await spawnChecked('objdump', ['-d', '--no-show-raw-insn', `--start-address=0x${start.toString(16)}`, `--stop-address=0x${end.toString(16)}`, file]);
  const result: { address: number; text: string }[] = [];
  for (const line of stdout.split('\n')) {
    const m = /^\s+([0-9a-f]+):\s+(.*)$/.exec(line);
    if (m) result.push({ address: parseInt(m[1]!, 16), text: m[2]!.trim() });
  }
  return result;
}

describe('x86-64 decoder', () => {
  it('cuts functions into the same instructions as objdump (crypto/tls, runtime and main code of every amd64 fixture)', async (t) => {
    const fixtures = loadFixtures({ arch: 'amd64', stripped: false }).filter((f) => f.program === 'tlsserver');
    if (!requireOrSkip(t, fixtures.length > 0, 'no fixtures (run scripts/setup.sh)')) return;
    for (const fixture of fixtures) {
      const bytes = readFileSync(fixture.path);
      const segments = await readelfSegments(fixture.path);
      for (const symbol of ['crypto/tls.(*Config).writeKeyLog', 'crypto/tls.(*Conn).Handshake', 'main.main', 'runtime.mallocgc']) {
        const start = await readelfSymbol(fixture.path, symbol);
        if (start === undefined) continue;
        // objdump cuts the last instruction at the stop address (".byte …"): compare up to there.
        const listing = await objdump(fixture.path, start, start + 400);
        const cut = listing.findIndex((i) => i.text.startsWith('.byte') || i.text.includes('(bad)'));
        const expected = cut < 0 ? listing : listing.slice(0, cut);
        const offset = fileOffsetFromSegments(segments, start)!;
        let address = start;
        let decoded = 0;
        for (const insn of expected.slice(0, -1)) {
          assert.equal(address, insn.address, `${fixture.id} ${symbol}: boundary before "${insn.text}"`);
          const ours = decodeX86(bytes, offset + (address - start));
          assert.ok(ours, `${fixture.id} ${symbol}: "${insn.text}" not decoded`);
          address += ours.length;
          decoded++;
        }
        assert.ok(decoded > 50, `${fixture.id} ${symbol}: only ${decoded} instructions compared`);
      }
    }
  });

  it('builds a signature from entry through the first call, with its displacement masked', async (t) => {
    const fixtures = loadFixtures({ arch: 'amd64', stripped: false }).filter((f) => f.program === 'tlsserver');
    if (!requireOrSkip(t, fixtures.length > 0, 'no fixtures (run scripts/setup.sh)')) return;
    for (const fixture of fixtures) {
      const start = Number(fixture.nmWriteKeyLog);
      const offset = fileOffsetFromSegments(await readelfSegments(fixture.path), start)!;
      const code = readFileSync(fixture.path).subarray(offset, offset + 512);
      const signature = signatureFromCode('amd64', code);
      const listing = await objdump(fixture.path, start, start + 512);
      const firstCall = listing.find((i) => i.text.startsWith('call'))!;
      // The signature ends right after the 5-byte call; its rel32 is masked, its opcode kept.
      assert.equal(start + signature.pattern.length, firstCall.address + 5, fixture.id);
      assert.equal(signature.mask[signature.mask.length - 5], 0xff);
      assert.deepEqual([...signature.mask.subarray(-4)], [0, 0, 0, 0]);
    }
  });
});
