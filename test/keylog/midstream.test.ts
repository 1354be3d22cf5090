import assert from 'node:assert/strict';
import { test } from 'node:test';
import { KeyLog, canonicalIp, formatMidstreamLine, parseKeyLog, parseMidstreamLine, parseRfc3339Ns, type MidstreamSecret } from '../../src/keylog/index.js';
import { ipv6Text } from '../../src/net/ip.js';
import { seededRandom } from '../support/random.js';

const SECRET32 = '0123456789abcdef'.repeat(4);
const SECRET48 = 'fedcba9876543210'.repeat(6);
const LINE_V4 = `# GOKEYLOG_MIDSTREAM v=1 dir=client suite=0x1301 client=10.0.0.2:51234 server=10.0.0.1:6443 seq=17 secret=${SECRET32} time=2026-12-01T20:40:40.123456789Z`;
const LINE_V6 = `# GOKEYLOG_MIDSTREAM v=1 dir=server suite=0x1302 client=[fd00::2]:40000 server=[fd00::1]:443 seq=18446744073709551615 secret=${SECRET48} time=1970-01-01T00:00:00.000000000Z`;

test('a mid-stream line parses into the values it spells, and formats back to the same text', () => {
  const s = parseMidstreamLine(LINE_V4) as MidstreamSecret;
  assert.equal(typeof s, 'object');
  assert.equal(s.direction, 'client');
  assert.equal(s.suite, 0x1301);
  assert.deepEqual(s.client, { ip: '10.0.0.2', port: 51234 });
  assert.deepEqual(s.server, { ip: '10.0.0.1', port: 6443 });
  assert.equal(s.seq, 17n);
  assert.equal(Buffer.from(s.secret).toString('hex'), SECRET32);
  // 2026-12-01T20:40:40Z is 1796157640 s after the epoch (date -u -d … +%s).
  assert.equal(s.timeNs, 1796157640_123456789n);
  assert.equal(formatMidstreamLine(s), LINE_V4);

  const v6 = parseMidstreamLine(LINE_V6) as MidstreamSecret;
  assert.deepEqual([v6.direction, v6.suite, v6.client, v6.server, v6.seq, v6.timeNs], ['server', 0x1302, { ip: 'fd00::2', port: 40000 }, { ip: 'fd00::1', port: 443 }, 2n ** 64n - 1n, 0n]);
  assert.equal(formatMidstreamLine(v6), LINE_V6);
});

test('IPv6 addresses are read in any spelling and kept in the RFC 5952 form the capture decoder prints', () => {
  const line = LINE_V6.replace('[fd00::2]', '[FD00:0:0:0:0:0:0:2]');
  const s = parseMidstreamLine(line) as MidstreamSecret;
  assert.deepEqual(s.client, { ip: 'fd00::2', port: 40000 });
  assert.equal(formatMidstreamLine(s), LINE_V6);
});

test('fewer fraction digits are read as the time they spell; fields may come in any order; later fields are ignored', () => {
  assert.equal(parseRfc3339Ns('2026-12-01T20:40:40.5Z'), 1796157640_500000000n);
  assert.equal(parseRfc3339Ns('2026-12-01T20:40:40Z'), 1796157640_000000000n);
  const reordered = `# GOKEYLOG_MIDSTREAM time=2026-12-01T20:40:40.123456789Z secret=${SECRET32} seq=17 server=10.0.0.1:6443 client=10.0.0.2:51234 suite=0x1301 dir=client v=1 pid=42`;
  assert.equal(formatMidstreamLine(parseMidstreamLine(reordered) as MidstreamSecret), LINE_V4);
});

test('every malformed field is refused with a sentence that names it', () => {
  const bad: Array<[string, RegExp]> = [
    [LINE_V4.replace('v=1', 'v=2'), /version "2" is not supported/],
    [LINE_V4.replace('dir=client', 'dir=up'), /dir= must be client or server/],
    [LINE_V4.replace('suite=0x1301', 'suite=0xc02f'), /not a TLS 1.3 suite/],
    [LINE_V4.replace('suite=0x1301', 'suite=4865'), /suite= must be 0x/],
    [LINE_V4.replace('suite=0x1301', 'suite=0x1302'), /secret is 32 bytes, expected 48/],
    [LINE_V4.replace('client=10.0.0.2', 'client=10.0.0.300'), /client= has no valid IP address/],
    [LINE_V4.replace('client=10.0.0.2', 'client=[10.0.0.2]'), /client= has no valid IP address/],
    [LINE_V4.replace('server=10.0.0.1:6443', 'server=fd00::1:6443'), /server= must be IPv4:PORT/],
    [LINE_V4.replace(':6443', ':65536'), /port out of range/],
    [LINE_V4.replace(':6443', ':0'), /port out of range/],
    [LINE_V4.replace('seq=17', 'seq=-1'), /seq= must be a decimal number/],
    [LINE_V4.replace('seq=17', 'seq=18446744073709551616'), /sequence number out of range/],
    [LINE_V4.replace('seq=17', 'seq=0x11'), /seq= must be a decimal number/],
    [LINE_V4.replace(`secret=${SECRET32}`, `secret=${SECRET32}0`), /secret= is not hex/],
    [LINE_V4.replace('Z', '+01:00'), /time= is not an RFC 3339 UTC time/],
    [LINE_V4.replace('12-01T', '02-30T'), /time= is not an RFC 3339 UTC time/],
    [LINE_V4.replace(' seq=17', ''), /has no seq=/],
    [`${LINE_V4} seq=18`, /seq appears twice/],
    [LINE_V4.replace('dir=client', 'dir'), /"dir" is not NAME=VALUE/],
    [`${LINE_V4} x=${'a'.repeat(1000)}`, /longer than 1024 characters/],
  ];
  for (const [line, why] of bad) {
    const r = parseMidstreamLine(line);
    assert.equal(typeof r, 'string', line);
    assert.match(r as string, why, line);
  }
});

test('in a key log, mid-stream lines are collected, other comments skipped, bad mid-stream lines reported by line number', () => {
  const nss = `CLIENT_TRAFFIC_SECRET_0 ${'ab'.repeat(32)} ${SECRET32}`;
  const text = ['# written by gokeylog', nss, LINE_V4, '# GOKEYLOG_MIDSTREAMING is another tool', LINE_V4.replace('dir=client', 'dir=x'), LINE_V6].join('\n');
  const { entries, midstream, errors } = parseKeyLog(text);
  assert.equal(entries.length, 1);
  assert.deepEqual(midstream.map(formatMidstreamLine), [LINE_V4, LINE_V6]);
  assert.deepEqual(errors, [{ line: 5, message: 'mid-stream dir= must be client or server' }]);

  const keyLog = new KeyLog();
  for (const s of midstream) assert.equal(keyLog.addMidstream(s), true);
  assert.equal(keyLog.addMidstream(midstream[0]!), false, 'the same secret at the same sequence number is kept once');
  assert.equal(keyLog.midstream({ ip: '10.0.0.2', port: 51234 }, { ip: '10.0.0.1', port: 6443 }, 'client').length, 1);
  assert.equal(keyLog.midstream({ ip: '10.0.0.2', port: 51234 }, { ip: '10.0.0.1', port: 6443 }, 'server').length, 0);
  assert.equal(keyLog.midstream({ ip: 'fd00::2', port: 40000 }, { ip: 'fd00::1', port: 443 }, 'server').length, 1);
  assert.equal(keyLog.midstreamSize, 2);
  assert.equal(keyLog.size, 0, 'size counts NSS entries only');
});

test('fuzz: mutated mid-stream lines never throw, and whatever parses formats back into a line that parses to the same', () => {
  const random = seededRandom(9);
  const alphabet = '# =:.[]0123456789abcdefxABCDEFZT-GOKEYLOG_MIDSTREAMvdirsuteclnq\t';
  let parsed = 0;
  for (let i = 0; i < 20_000; i++) {
    const chars = [...(random() < 0.5 ? LINE_V4 : LINE_V6)];
    for (let m = 1 + random(4); m > 0; m--) {
      const at = random(chars.length + 1);
      const op = random(3);
      const c = alphabet[random(alphabet.length)]!;
      if (op === 0) chars.splice(at, 1);
      else if (op === 1) chars.splice(at, 0, c);
      else chars[at] = c;
    }
    const line = chars.join('');
    const r = parseMidstreamLine(line);
    if (typeof r === 'string') continue;
    parsed += 1;
    const again = parseMidstreamLine(formatMidstreamLine(r));
    assert.deepEqual(again, r, `seed 9, case ${i}: ${line}`);
  }
  assert.ok(parsed > 100, `some mutations are still valid lines (${parsed})`);
});

test('IPv6 addresses in key lines take exactly the form the capture decoder prints (seeded, with runs of zero groups)', () => {
  const random = seededRandom(6);
  for (let i = 0; i < 20_000; i++) {
    const bytes = new Uint8Array(16);
    for (let g = 0; g < 8; g++) {
      // Mostly zero groups, so that runs of every length and position (and ties) occur.
      const v = random() < 0.55 ? 0 : random(0x10000);
      bytes[2 * g] = v >> 8;
      bytes[2 * g + 1] = v & 0xff;
    }
    if (i % 10 === 0) bytes.set([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff], 0); // IPv4-mapped
    const longForm = Array.from({ length: 8 }, (_, g) => ((bytes[2 * g]! << 8) | bytes[2 * g + 1]!).toString(16).toUpperCase()).join(':');
    assert.equal(canonicalIp(longForm), ipv6Text(bytes, 0), longForm);
    if (i % 10 === 0) {
      const dotted = `::ffff:${bytes[12]}.${bytes[13]}.${bytes[14]}.${bytes[15]}`;
      assert.equal(canonicalIp(dotted), ipv6Text(bytes, 0), dotted);
    }
  }
});
