/**
 * A chord's finished header parts, kept by a store without Redis's sorted sets (memory://,
 * local://, dynamodb://) by the rules providers/redis/scripts/add-chord-part.ts follows: one part
 * per header task (the first added stays: a task run again after a lost ack, perhaps with another
 * result, neither counts twice nor changes what the body gets); the chord is complete when the parts
 * number the header size (`.s`) plus its adjustment (`.t`); the parts come back in ZRANGE's order —
 * by score, a part without one (no group index) last, equal scores by member.
 */
import type { ChordPartInput } from './ports.js';

/** One part as kept: its place in the header (null: none given), the member Celery's backend would ZADD, and its task id. */
export type ChordPartEntry = [score: number | null, member: string, taskId: string];

/** `parts` with `part` added, unless its task has a part already (then the same array). */
export function withChordPart(parts: ChordPartEntry[], part: ChordPartInput): ChordPartEntry[] {
  return parts.some(([, , id]) => id === part.taskId) ? parts : [...parts, [part.score, part.member, part.taskId]];
}

/** Every member in order when `parts` complete the chord whose size and adjustment the store holds, else undefined. */
export function completedChord(parts: ChordPartEntry[], size: string | undefined, extra: string | undefined): string[] | undefined {
  const total = Number(size ?? Number.NaN) + (Number(extra ?? 0) || 0);
  if (parts.length !== total) return undefined;
  const last = (score: number | null) => score ?? Number.POSITIVE_INFINITY;
  return [...parts].sort(([a, m], [b, n]) => last(a) - last(b) || (m < n ? -1 : m > n ? 1 : 0)).map(([, member]) => member);
}

/** The parts a store kept as JSON text (memory://, local://); nothing kept is no parts. */
export function readChordParts(text: string | undefined): ChordPartEntry[] {
  return text === undefined ? [] : (JSON.parse(text) as ChordPartEntry[]);
}
