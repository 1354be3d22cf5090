import assert from 'node:assert/strict';
import { mock, test } from 'node:test';
import { setLongTimeout } from '../../src/util/longTimeout.js';

const DAY = 86_400_000;

test('setLongTimeout waits 30 days (setTimeout alone fires after 1 ms past 24.8 days), and can be cleared', () => {
  mock.timers.enable({ apis: ['setTimeout', 'Date'] });
  try {
    // The overflow it avoids, shown with the same (mocked) clock: Node fires this one at once.
    let plainFired = false;
    setTimeout(() => (plainFired = true), 30 * DAY);
    mock.timers.tick(1);
    assert.equal(plainFired, true, 'setTimeout overflows past 2^31-1 ms');

    let fired = 0;
    setLongTimeout(() => fired++, 30 * DAY);
    mock.timers.tick(1);
    mock.timers.tick(25 * DAY);
    assert.equal(fired, 0, 'not after 25 days');
    mock.timers.tick(5 * DAY - 2);
    assert.equal(fired, 0, 'not 1 ms early');
    mock.timers.tick(2);
    assert.equal(fired, 1, 'after 30 days');

    let cleared = 0;
    const t = setLongTimeout(() => cleared++, 26 * DAY);
    mock.timers.tick(25 * DAY);
    t.clear();
    mock.timers.tick(2 * DAY);
    assert.equal(cleared, 0);
  } finally {
    mock.timers.reset();
  }
});
