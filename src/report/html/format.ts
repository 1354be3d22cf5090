/** Times as the HTML report prints them: UTC, and capture lengths (time left is timeLeft.ts's). */
import { durationText } from '../timeLeft.js';

/** 2026-12-01 20:50:03 UTC */
export function utc(ms: number): string {
  return `${new Date(ms).toISOString().slice(0, 19).replace('T', ' ')} UTC`;
}

/** 20:50:03.125 — a time within the capture, to the millisecond. */
export function clock(ms: number): string {
  return new Date(ms).toISOString().slice(11, 23);
}

/** 2026-12-01 */
export const day = (ms: number): string => new Date(ms).toISOString().slice(0, 10);

/** A capture's length: "8.2 s", "14 min", "3 h". */
export function span(ms: number): string {
  if (ms < 60_000) return `${(ms / 1000).toFixed(ms < 10_000 ? 1 : 0)} s`;
  return durationText(ms / 1000);
}
