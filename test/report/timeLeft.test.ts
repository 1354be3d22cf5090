// Time left reads in hours under two days and is never rounded up.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ExpiryWindow, expiryText } from '../../src/report/timeLeft.js';

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

test('an expiry window measured from a reference in seconds is exact to the millisecond', () => {
  // A reference with milliseconds (as a capture's first packet or --now gives it), handed over in seconds.
  const reference = '2026-12-01T20:43:16.878Z';
  const window = new ExpiryWindow(Date.parse(reference) / 1000, 30);
  assert.equal(window.referenceTime, reference);
  // Exactly 30 days later is within the window; a millisecond later is not.
  assert.equal(window.includes('2026-12-31T20:43:16.878Z'), true);
  assert.equal(window.includes('2026-12-31T20:43:16.879Z'), false);
  assert.equal(window.includes('2026-11-01T00:00:00.000Z'), true, 'expired');
  // 30 days 1 h is 30 days left, a millisecond short of 30 days is 29; the seconds keep their milliseconds.
  assert.equal(window.daysLeft('2026-12-31T21:43:16.878Z'), 30);
  assert.equal(window.daysLeft('2026-12-31T20:43:16.877Z'), 29);
  assert.equal(window.secondsLeft('2026-12-01T20:43:18.000Z'), 1.122);
  assert.equal(window.secondsLeft('2026-12-01T20:43:16.000Z'), -0.878);
});
