/**
 * Time left until a credential expires, in words people act on: hours under two days ("expires in 47 h";
 * 47.99 h is never "1 day"), days and hours under ten days, whole days beyond. Counting down is floored, so the
 * figure never promises more time than there is.
 */
const MINUTE = 60;
const HOUR = 3600;
const DAY = 86_400;
/** One day in milliseconds: the unit of --expiring-within windows and of days left. */
export const DAY_MS = DAY * 1000;

export function durationText(seconds: number): string {
  const s = Math.abs(seconds);
  if (s < HOUR) return `${Math.floor(s / MINUTE)} min`;
  if (s < 2 * DAY) return `${Math.floor(s / HOUR)} h`;
  const days = Math.floor(s / DAY);
  if (s < 10 * DAY) {
    const hours = Math.floor((s - days * DAY) / HOUR);
    return hours ? `${days} days ${hours} h` : `${days} days`;
  }
  return `${days} days`;
}

/** "expires in 47 h", "expired 3 days ago". */
export function expiryText(secondsLeft: number): string {
  return secondsLeft < 0 ? `expired ${durationText(secondsLeft)} ago` : `expires in ${durationText(secondsLeft)}`;
}
