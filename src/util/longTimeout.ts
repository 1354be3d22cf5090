/** The longest delay setTimeout honours (2^31 − 1 ms, 24.8 days); a longer one fires after 1 ms. */
const MAX_TIMEOUT_MS = 2 ** 31 - 1;

export interface LongTimeout {
  clear(): void;
}

/**
 * setTimeout for any delay (`--duration 30d` of a long capture): a longer delay is waited for in steps that
 * setTimeout can take, instead of overflowing into an immediate stop.
 */
export function setLongTimeout(callback: () => void, ms: number): LongTimeout {
  let timer: NodeJS.Timeout;
  const due = Date.now() + ms;
  const arm = (left: number): void => {
    timer = setTimeout(() => {
      const rest = due - Date.now();
      if (rest > 0) arm(rest);
      else callback();
    }, Math.min(Math.max(left, 0), MAX_TIMEOUT_MS));
  };
  arm(ms);
  return { clear: () => clearTimeout(timer) };
}
