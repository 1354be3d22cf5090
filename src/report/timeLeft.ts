/**
 * Time left until a credential expires, in words people act on: hours under two days ("expires in 47 h";
 * 47.99 h is never "1 day"), days and hours under ten days, whole days beyond. Counting down is floored, so the
 * figure never promises more time than there is.
 */
const MINUTE = 60;
const HOUR = 3600;
/** One day in seconds (the report's unit) and in milliseconds (the clock's: Date.parse, Date.now): the only definitions. */
export const DAY_SECONDS = 86_400;
export const DAY_MS = DAY_SECONDS * 1000;

export function durationText(seconds: number): string {
  const s = Math.abs(seconds);
  if (s < HOUR) return `${Math.floor(s / MINUTE)} min`;
  if (s < 2 * DAY_SECONDS) return `${Math.floor(s / HOUR)} h`;
  const days = Math.floor(s / DAY_SECONDS);
  if (s < 10 * DAY_SECONDS) {
    const hours = Math.floor((s - days * DAY_SECONDS) / HOUR);
    return hours ? `${days} days ${hours} h` : `${days} days`;
  }
  return `${days} days`;
}

/** "expires in 47 h", "expired 3 days ago". */
export function expiryText(secondsLeft: number): string {
  return secondsLeft < 0 ? `expired ${durationText(secondsLeft)} ago` : `expires in ${durationText(secondsLeft)}`;
}

/**
 * Seconds since the epoch (the report's unit) → the clock's whole milliseconds (Date's unit). Every time that
 * comes in seconds and is compared with a Date was read from a clock or a Date in ms; rounding keeps it on that
 * ms when the seconds were computed (a sum, a time with digits below the ms), where Date would truncate.
 */
export const clockMs = (seconds: number): number => Math.round(seconds * 1000);

/**
 * Where certificates stand at a reference time, and the --expiring-within window after it: the one place that
 * measures time left, days left and "within the window", for the report, its filters, its HTML and `conns`.
 * The reference comes in seconds since the epoch (the report's unit) and is kept in the clock's whole
 * milliseconds, the unit of every notAfter (Date.parse) and clock reading: time left is then exact, and a
 * certificate 30 days 1 h away is not within 30 days.
 */
export class ExpiryWindow {
  /** The reference time in ms since the epoch. */
  readonly referenceMs: number;
  readonly days: number;
  readonly #endMs: number;

  constructor(referenceTimeSeconds: number, days: number) {
    this.referenceMs = clockMs(referenceTimeSeconds);
    this.days = days;
    this.#endMs = this.referenceMs + days * DAY_MS;
  }

  /** The reference time, ISO 8601. */
  get referenceTime(): string {
    return new Date(this.referenceMs).toISOString();
  }

  /** Seconds from the reference to `notAfter` (ISO 8601); negative once it has passed. */
  secondsLeft(notAfter: string): number {
    return (Date.parse(notAfter) - this.referenceMs) / 1000;
  }

  /** Whole days from the reference to `notAfter`, floored. */
  daysLeft(notAfter: string): number {
    return Math.floor((Date.parse(notAfter) - this.referenceMs) / DAY_MS);
  }

  /** `notAfter` is within the window: expired, or expiring at most `days` after the reference. */
  includes(notAfter: string): boolean {
    return Date.parse(notAfter) <= this.#endMs;
  }
}
