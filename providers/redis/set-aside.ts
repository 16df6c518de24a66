/**
 * The records this process set aside in unacked until due (delay-message.ts): held by nobody in
 * Redis, but this worker's doing, so `inspect scheduled` lists them as Celery lists the ETA tasks
 * a worker holds in memory. Only what is still in unacked under the score it was set aside with
 * is listed: a record restored (due) or gone (the data lost) is not.
 */
import { decodeEnvelope } from '../../core/envelope.js';
import type { SetAsideMessage } from '../../core/ports.js';
import type { Redis } from 'ioredis';

interface Entry {
  envelope: string;
  queue: string;
  score: string;
  dueMs: number;
}

export class SetAside {
  /** By delivery tag: a message set aside again under its tag replaces its entry. */
  readonly #entries = new Map<string, Entry>();

  constructor(
    private readonly client: Redis,
    /** The unacked_index key. */
    private readonly index: string,
  ) {}

  add(tag: string, entry: Entry): void {
    this.#entries.set(tag, entry);
  }

  /** Forget what has come due (restore puts it back in its queue then): the restorer calls it each pass. */
  prune(now: number): void {
    for (const [tag, e] of this.#entries) if (e.dueMs <= now) this.#entries.delete(tag);
  }

  /** What is still set aside, soonest due first. */
  async list(): Promise<SetAsideMessage[]> {
    this.prune(Date.now());
    const entries = [...this.#entries];
    const scores = await Promise.all(entries.map(([tag]) => this.client.zscore(this.index, tag)));
    return entries
      .filter(([, e], i) => scores[i] !== null && Number(scores[i]) === Number(e.score))
      .flatMap(([, e]) => {
        try {
          return [{ message: decodeEnvelope(e.envelope, e.queue), dueMs: e.dueMs }];
        } catch {
          return []; // an envelope the executor will dead-letter when it is due: not a task to list
        }
      })
      .sort((a, b) => a.dueMs - b.dueMs);
  }
}
