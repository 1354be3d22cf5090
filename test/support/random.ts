/**
 * The one deterministic pseudo-random generator of the tests (mulberry32), so that a fuzz failure names a seed
 * that reproduces it. `random()` is a number in [0, 1); `random(n)` an integer in [0, n).
 */
export type SeededRandom = (n?: number) => number;

export function seededRandom(seed: number): SeededRandom {
  let state = seed >>> 0;
  return (n) => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    const fraction = ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    return n === undefined ? fraction : Math.floor(fraction * n);
  };
}
