// Time left reads in hours under two days and is never rounded up.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { expiryText } from '../../src/report/timeLeft.js';

test('hours under two days, days and hours under ten, floored', () => {
  const h = 3600;
  assert.equal(expiryText(47.99 * h), 'expires in 47 h');
  assert.equal(expiryText(48 * h), 'expires in 2 days');
  assert.equal(expiryText(71.5 * h), 'expires in 2 days 23 h');
  assert.equal(expiryText(30 * 60), 'expires in 30 min');
  assert.equal(expiryText(25 * 24 * h + 23 * h), 'expires in 25 days');
  assert.equal(expiryText(-3 * h), 'expired 3 h ago');
  assert.equal(expiryText(-400 * 24 * h), 'expired 400 days ago');
});
