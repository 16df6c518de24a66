/**
 * A chord's finished header parts, kept by a store without Redis's sorted sets (memory://,
 * local://, dynamodb://) by the rules providers/redis/scripts/add-chord-part.ts follows: one part
 * per header task (the first added stays: a task run again after a lost ack, perhaps with another
 * result, neither counts twice nor changes what the body gets); the chord is complete when the parts
 * number the header size (`.s`) plus its adjustment (`.t`); the parts come back in ZRANGE's order —
 * by score, a part without one (no group index) last, equal scores by member. Each store keeps a
 * part on its own and counts them as they come, so a chord of n tasks costs n adds, not n².
 */

/** One part: its place in the header (null: none given) and the member Celery's backend would ZADD. */
export type ChordPartEntry = [score: number | null, member: string];

/** Whether `count` parts complete the chord whose size and adjustment the store holds. */
export function chordComplete(count: number, size: string | undefined, extra: string | undefined): boolean {
  return count === Number(size ?? Number.NaN) + (Number(extra ?? 0) || 0);
}

/** The members, in header order. */
export function inHeaderOrder(parts: Iterable<ChordPartEntry>): string[] {
  const last = (score: number | null) => score ?? Number.POSITIVE_INFINITY;
  return [...parts].sort(([a, m], [b, n]) => last(a) - last(b) || (m < n ? -1 : m > n ? 1 : 0)).map(([, member]) => member);
}
