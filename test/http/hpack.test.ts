// HPACK against RFC 7541 Appendix C: the byte strings and expected header lists/tables are the RFC's.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HpackDecoder, HpackError, type HeaderField } from '../../src/http/hpack.js';
import { decodeHuffman } from '../../src/http/huffman.js';
import { seededRandom } from '../support/random.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

function tableOf(d: HpackDecoder): HeaderField[] {
  const out: HeaderField[] = [];
  for (let i = 0; i < d.table.length; i++) out.push(d.table.at(i)!);
  return out;
}

test('C.2.1 literal with indexing', () => {
  const d = new HpackDecoder();
  assert.deepEqual(d.decode(hex('400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572')), [['custom-key', 'custom-header']]);
  assert.deepEqual(tableOf(d), [['custom-key', 'custom-header']]);
  assert.equal(d.table.currentSize, 55);
});

test('C.2.2 literal without indexing, C.2.3 never indexed, C.2.4 indexed', () => {
  const d = new HpackDecoder();
  assert.deepEqual(d.decode(hex('040c 2f73 616d 706c 652f 7061 7468')), [[':path', '/sample/path']]);
  assert.deepEqual(d.decode(hex('1008 7061 7373 776f 7264 0673 6563 7265 74')), [['password', 'secret']]);
  assert.deepEqual(d.decode(hex('82')), [[':method', 'GET']]);
  assert.equal(d.table.length, 0);
});

const REQUESTS: HeaderField[][] = [
  [[':method', 'GET'], [':scheme', 'http'], [':path', '/'], [':authority', 'www.example.com']],
  [[':method', 'GET'], [':scheme', 'http'], [':path', '/'], [':authority', 'www.example.com'], ['cache-control', 'no-cache']],
  [[':method', 'GET'], [':scheme', 'https'], [':path', '/index.html'], [':authority', 'www.example.com'], ['custom-key', 'custom-value']],
];
const REQUEST_TABLE_SIZES = [57, 110, 164];
const REQUEST_TABLE_AFTER_3: HeaderField[] = [['custom-key', 'custom-value'], ['cache-control', 'no-cache'], [':authority', 'www.example.com']];

for (const [name, blocks] of [
  ['C.3 requests without Huffman', ['8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d', '8286 84be 5808 6e6f 2d63 6163 6865', '8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65']],
  ['C.4 requests with Huffman', ['8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff', '8286 84be 5886 a8eb 1064 9cbf', '8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf']],
] as const) {
  test(name, () => {
    const d = new HpackDecoder();
    blocks.forEach((block, i) => {
      assert.deepEqual(d.decode(hex(block)), REQUESTS[i]);
      assert.equal(d.table.currentSize, REQUEST_TABLE_SIZES[i]);
    });
    assert.deepEqual(tableOf(d), REQUEST_TABLE_AFTER_3);
  });
}

const DATE1 = 'Mon, 21 Oct 2013 20:13:21 GMT';
const DATE2 = 'Mon, 21 Oct 2013 20:13:22 GMT';
const LOCATION = 'https://www.example.com';
const COOKIE = 'foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1';
const RESPONSES: HeaderField[][] = [
  [[':status', '302'], ['cache-control', 'private'], ['date', DATE1], ['location', LOCATION]],
  [[':status', '307'], ['cache-control', 'private'], ['date', DATE1], ['location', LOCATION]],
  [[':status', '200'], ['cache-control', 'private'], ['date', DATE2], ['location', LOCATION], ['content-encoding', 'gzip'], ['set-cookie', COOKIE]],
];
// After each response, with a 256-octet table: eviction happens in responses 2 and 3.
const RESPONSE_TABLES: HeaderField[][] = [
  [['location', LOCATION], ['date', DATE1], ['cache-control', 'private'], [':status', '302']],
  [[':status', '307'], ['location', LOCATION], ['date', DATE1], ['cache-control', 'private']],
  [['set-cookie', COOKIE], ['content-encoding', 'gzip'], ['date', DATE2]],
];
const RESPONSE_TABLE_SIZES = [222, 222, 215];

for (const [name, blocks] of [
  ['C.5 responses without Huffman (eviction)', [
    '4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3120 474d 546e 1768 7474 7073 3a2f 2f77 7777 2e65 7861 6d70 6c65 2e63 6f6d',
    '4803 3330 37c1 c0bf',
    '88c1 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3220 474d 54c0 5a04 677a 6970 7738 666f 6f3d 4153 444a 4b48 514b 425a 584f 5157 454f 5049 5541 5851 5745 4f49 553b 206d 6178 2d61 6765 3d33 3630 303b 2076 6572 7369 6f6e 3d31',
  ]],
  ['C.6 responses with Huffman (eviction)', [
    '4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6 2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3',
    '4883 640e ffc1 c0bf',
    '88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab 77ad 94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f 9587 3160 65c0 03ed 4ee5 b106 3d50 07',
  ]],
] as const) {
  test(name, () => {
    const d = new HpackDecoder(256);
    blocks.forEach((block, i) => {
      assert.deepEqual(d.decode(hex(block)), RESPONSES[i]);
      assert.deepEqual(tableOf(d), RESPONSE_TABLES[i]);
      assert.equal(d.table.currentSize, RESPONSE_TABLE_SIZES[i]);
    });
  });
}

test('dynamic table size updates: shrink to 0 evicts, above the limit and after a field are errors', () => {
  const d = new HpackDecoder();
  d.decode(hex('400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572'));
  assert.deepEqual(d.decode(hex('20 82')), [[':method', 'GET']]);
  assert.equal(d.table.length, 0);
  assert.equal(d.table.capacity, 0);
  d.decode(hex('3fe11f')); // 4096 (§5.1 integer with a 5-bit prefix)
  assert.equal(d.table.capacity, 4096);
  assert.throws(() => d.decode(hex('3fe21f')), HpackError); // 4097 > SETTINGS_HEADER_TABLE_SIZE
  assert.throws(() => new HpackDecoder().decode(hex('82 20')), HpackError);
});

test('an entry larger than the table empties it', () => {
  const d = new HpackDecoder(60);
  d.decode(hex('4001 61 0162')); // a: b → 34 octets
  d.decode(hex('4002 6363 0264 64')); // cc: dd → 36; 70 > 60 evicts a
  assert.deepEqual(tableOf(d), [['cc', 'dd']]);
  d.decode(hex('4010' + Buffer.from('0123456789012345').toString('hex') + '10' + Buffer.from('0123456789012345').toString('hex')));
  assert.equal(d.table.length, 0);
  assert.equal(d.table.currentSize, 0);
});

test('malformed blocks raise HpackError', () => {
  for (const bad of ['80', 'be', '7f00 0161', '0005 6162', '8286 8441', '41 ff', '0081 ff 0161', '00 83 ffffff 0161']) {
    assert.throws(() => new HpackDecoder().decode(hex(bad)), HpackError, bad);
  }
});

test('Huffman: RFC C.4 strings decode; EOS and bad padding are rejected', () => {
  assert.equal(decodeHuffman(hex('a8eb 1064 9cbf'), 0, 6), 'no-cache');
  assert.equal(decodeHuffman(hex('25a8 49e9 5ba9 7d7f'), 0, 8), 'custom-key');
  // 30 one-bits = EOS: forbidden inside a string.
  assert.throws(() => decodeHuffman(hex('ffffffff'), 0, 4));
  // 'a' is 00011; padding with zeros instead of ones is invalid.
  assert.throws(() => decodeHuffman(hex('18'), 0, 1));
  assert.equal(decodeHuffman(hex('1f'), 0, 1), 'a');
  // A full byte of padding (8 one-bits) is too long.
  assert.throws(() => decodeHuffman(hex('1fff'), 0, 2));
});

test('HPACK fuzz: seeded random blocks and mutations of the RFC blocks decode or raise HpackError, never anything else', () => {
  const random = seededRandom(7541);
  const seeds = ['8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf', '4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6 2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3'].map(hex);
  for (let i = 0; i < 5000; i++) {
    let block: Buffer;
    if (i % 2) block = Buffer.from(Array.from({ length: random(40) }, () => random(256)));
    else {
      block = Buffer.from(seeds[random(seeds.length)]!);
      for (let k = 0; k < 1 + random(4); k++) block[random(block.length)] = random(256);
    }
    try {
      new HpackDecoder().decode(block);
    } catch (err) {
      assert.ok(err instanceof HpackError, `block ${block.toString('hex')} threw ${String(err)}`);
    }
  }
});
