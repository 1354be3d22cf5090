/** "1 key", "2 keys": a count with its noun, for the summaries commands print. */
export const count = (n: number, one: string, many: string): string => `${n} ${n === 1 ? one : many}`;
