/**
 * The arithmetic between an unacked_index score and the time restore takes its record. kombu's
 * restore takes records scored at most now − visibility timeout (epoch seconds, §2.4), so a
 * record comes due at its score + the timeout: a lease taken at t at t + timeout, a lease
 * extended or a message held until a time at that time. Whole milliseconds on both sides, so a
 * record scored for t is never taken before t.
 */

/** The score under which restore takes a record at `dueMs` (epoch ms); for now, restore's own cutoff. */
export function scoreDueAt(dueMs: number, visibilityTimeoutMs: number): string {
  return String((Math.ceil(dueMs) - visibilityTimeoutMs) / 1000);
}

/** When (epoch ms) a restore run then takes the record of this score: the first whole ms past its due time. */
export function dueAtScore(score: string, visibilityTimeoutMs: number): number {
  return Math.ceil(Number(score) * 1000 + visibilityTimeoutMs) + 1;
}
