// Wire text is printed escaped: no ESC/OSC/CR reaches the terminal.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { escapeControl } from '../../src/util/terminal.js';

test('control characters become visible escapes; printable text is untouched', () => {
  assert.equal(escapeControl('kubectl/v1.36.4 (linux/amd64) kubernetes/abc'), 'kubectl/v1.36.4 (linux/amd64) kubernetes/abc');
  assert.equal(escapeControl('a\u001b]0;owned\u0007b'), 'a\\e]0;owned\\x07b');
  assert.equal(escapeControl('ok\rEVIL\n'), 'ok\\rEVIL\\n');
  assert.equal(escapeControl('\u009b31m\u007f'), '\\x9b31m\\x7f');
  assert.equal(escapeControl('abc\u202edcba'), 'abc\\u{202e}dcba');
  assert.equal(escapeControl('système:nœud'), 'système:nœud');
});
