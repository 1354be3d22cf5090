/** Small helpers shared by the hand-made SVG charts: numbers, clipped labels, time axes. */
import { esc } from './escape.js';

/** Coordinates to one decimal: short markup, no visible rounding. */
export const px = (n: number): string => String(Math.round(n * 10) / 10);

/** A label cut to `max` characters (with an ellipsis); the full text is the element's tooltip. */
export function label(text: string, max: number): { shown: string; full: string } {
  const chars = [...text];
  return { shown: esc(chars.length > max ? `${chars.slice(0, max - 1).join('')}…` : text), full: esc(text) };
}

/**
 * A linear scale from a time domain [from, to] (ms) onto [x0, x1], clamped. Charts lay out their x axis in
 * percent of their width: they fill any page width while their text keeps its size (no viewBox scaling).
 */
export function timeScale(from: number, to: number, x0: number, x1: number): (ms: number) => number {
  const k = (x1 - x0) / Math.max(1, to - from);
  return (ms) => x0 + (Math.min(Math.max(ms, from), to) - from) * k;
}

/** A percentage coordinate: "37.52%". */
export const pct = (n: number): string => `${Math.round(n * 100) / 100}%`;

/** Round steps for a time axis, smallest first. */
const STEPS_MS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1e3, 2e3, 5e3, 1e4, 15e3, 3e4, 6e4, 12e4, 3e5, 6e5, 9e5, 18e5, 36e5, 108e5, 216e5, 432e5,
  864e5, 1728e5, 6048e5, 12096e5, 2592e6, 7776e6, 31536e6];

/** Tick positions (multiples of a round step, in UTC) for at most `maxTicks` ticks over [from, to]. */
export function ticks(from: number, to: number, maxTicks: number): { step: number; at: number[] } {
  const step = STEPS_MS.find((s) => (to - from) / s <= maxTicks) ?? STEPS_MS[STEPS_MS.length - 1]!;
  const at: number[] = [];
  for (let t = Math.ceil(from / step) * step; t <= to; t += step) at.push(t);
  return { step, at };
}
