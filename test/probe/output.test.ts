import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { setImmediate as turn } from 'node:timers/promises';
import { KeyLogWriter } from '../../src/probe/index.js';
import { RecentKeys } from '../../src/probe/recentKeys.js';
import { SecretOutput } from '../../src/util/secretFile.js';
import { secretTempDir } from '../support/pki.js';

const entry = (n: number): { label: string; clientRandom: Uint8Array; secret: Uint8Array } => ({
  label: 'CLIENT_RANDOM',
  clientRandom: new Uint8Array(32).fill(n),
  secret: new Uint8Array(48).fill(n + 1),
});
const line = (n: number): string => `CLIENT_RANDOM ${Buffer.alloc(32, n).toString('hex')} ${Buffer.alloc(48, n + 1).toString('hex')}\n`;

test('KeyLogWriter appends whole lines to an existing key log and flushes after each turn', async () => {
  const file = path.join(secretTempDir('writer'), 'keys.log');
  writeFileSync(file, line(9), { mode: 0o600 });
  const writer = new KeyLogWriter(SecretOutput.open(file, 'the key log', 'append').fd, (err) => assert.fail(err));
  writer.add(entry(1));
  writer.add(entry(2));
  assert.equal(readFileSync(file, 'utf8'), line(9), 'nothing written within the turn');
  await turn();
  assert.equal(readFileSync(file, 'utf8'), line(9) + line(1) + line(2), 'written right after it');
  writer.add(entry(3));
  writer.close();
  assert.equal(readFileSync(file, 'utf8'), line(9) + line(1) + line(2) + line(3), 'close flushes');
});

test('a key log file that cannot be opened is refused with one sentence', () => {
  assert.throws(() => SecretOutput.open('/nonexistent-dir/keys.log', 'the key log', 'append'), /^GokeylogError: cannot open \/nonexistent-dir\/keys.log for the key log: ENOENT\.$/);
});

test('RecentKeys drops a key seen lately and forgets the oldest beyond its capacity', () => {
  const recent = new RecentKeys(2);
  const e = [entry(1), entry(2), entry(3)];
  assert.equal(recent.add(e[0]!.label, e[0]!.clientRandom, e[0]!.secret), true);
  assert.equal(recent.add(e[0]!.label, e[0]!.clientRandom, e[0]!.secret), false, 'a duplicate');
  assert.equal(recent.add('CLIENT_TRAFFIC_SECRET_0', e[0]!.clientRandom, e[0]!.secret), true, 'another label is another key');
  assert.equal(recent.add(e[1]!.label, e[1]!.clientRandom, e[1]!.secret), true);
  assert.equal(recent.add(e[0]!.label, e[0]!.clientRandom, e[0]!.secret), true, 'the oldest was forgotten');
});
