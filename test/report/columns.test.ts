// Aligned columns: plain (kubectl-like) when not a terminal, fitted to the width on one, linear in rows.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cut, renderDelimited, renderTable, wrap, type Column } from '../../src/report/columns.js';

const columns: Column[] = [{ header: 'USER' }, { header: 'N', align: 'right' }, { header: 'USER AGENT', shrink: 'wrap' }, { header: 'PATH', shrink: 'truncate' }];
const rows = [
  ['system:node:worker-1', 12, 'kubelet/v1.36.0 (linux/amd64) kubernetes/0000000', '/api/v1/nodes/worker-1/status'],
  ['alice', 3, 'kubectl/v1.36.4', '/api/v1/namespaces/default/pods?limit=500'],
];

test('without a width: every value whole, two spaces apart, no box drawing', () => {
  assert.deepEqual(renderTable(columns, rows, { headers: true, color: false }), [
    'USER                   N  USER AGENT                                        PATH',
    'system:node:worker-1  12  kubelet/v1.36.0 (linux/amd64) kubernetes/0000000  /api/v1/nodes/worker-1/status',
    'alice                  3  kubectl/v1.36.4                                   /api/v1/namespaces/default/pods?limit=500',
  ]);
  assert.deepEqual(renderTable(columns, rows, { headers: false, color: false }).length, 2);
});

test('fitted to a width: no line is longer, wrapped and truncated columns give way', () => {
  for (const width of [60, 80]) {
    const lines = renderTable(columns, rows, { width, headers: true, color: false });
    for (const line of lines) assert.ok(line.length <= width, `${line.length} > ${width}: ${line}`);
    assert.ok(lines.some((l) => l.includes('…')));
    assert.ok(lines.join('\n').includes('system:node:worker-1'), 'fixed columns stay whole');
  }
  // The widest shrinkable column gives way first.
  assert.deepEqual(renderTable(columns, rows, { width: 60, headers: true, color: false }), [
    'USER                   N  USER AGENT    PATH',
    'system:node:worker-1  12  kubelet/      /api/v1/nodes/worke…',
    '                          v1.36.0',
    '                          (linux/',
    '                          amd64)',
    'alice                  3  kubectl/      /api/v1/namespaces/…',
    '                          v1.36.4',
  ]);
});

test('cells are escaped', () => {
  const [, line] = renderTable([{ header: 'UA' }], [['evil\u001b[2J\r']], { headers: true, color: false });
  assert.equal(line, 'evil\\e[2J\\r');
});

test('cut and wrap', () => {
  assert.equal(cut('abcdef', 4), 'abc…');
  assert.equal(cut('abc', 4), 'abc');
  assert.deepEqual(wrap('/api/v1/namespaces/default/pods', 12), ['/api/v1/', 'namespaces/', 'default/pods']);
  assert.deepEqual(wrap('aaaaaaaaaa', 4), ['aaaa', 'aaaa', 'aa']);
});

test('TSV and CSV quote as their readers expect', () => {
  assert.deepEqual(renderDelimited('csv', ['a', 'b'], [['x,y', 'say "hi"'], ['1', '']], true), ['a,b', '"x,y","say ""hi"""', '1,']);
  assert.deepEqual(renderDelimited('tsv', ['a', 'b'], [['x\ty', 'z']], false), ['x\\ty\tz']);
});

test('100k rows render in one pass', () => {
  const many = Array.from({ length: 100_000 }, (_, i) => [`10.0.${i >> 8}.${i & 255}`, i, 'curl/8.0', '/healthz']);
  const lines = renderTable(columns, many, { width: 80, headers: true, color: false });
  assert.equal(lines.length, 100_001);
});
