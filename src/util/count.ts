/** "1 key", "2 keys": a count with its noun (the plural defaults to one + "s"), for summaries and reports. */
export const count = (n: number, one: string, many = `${one}s`): string => `${n} ${n === 1 ? one : many}`;
