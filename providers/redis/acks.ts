/**
 * Acks wait a moment to ride along with the next fetch (the same connection, the same script
 * call, fetch-and-lease.ts): a busy consumer fetches again as soon as it settles, so its acks
 * cost no call and no write of their own; an idle one sends them alone after ACK_DELAY_MS.
 * A message acked but not yet sent stays in unacked meanwhile: a crash in that window gives
 * it back after the visibility timeout, as for any unacked message (at-least-once).
 */
import { type Deferred, deferred } from '../../core/deferred.js';

/** Longest wait for a fetch to carry the acks. */
const ACK_DELAY_MS = 10;

export interface TakenAcks {
  /** tag, score, tag, score, ... */
  args: string[];
  /** Settle the acks' promises once the call carrying them has returned. */
  done(err?: unknown): void;
}

export class PendingAcks {
  #args: string[] = [];
  #batch: Deferred | undefined;
  #timer: NodeJS.Timeout | undefined;

  /** `sendAlone` acks tag/score pairs in a call of its own. */
  constructor(private readonly sendAlone: (args: string[]) => Promise<unknown>) {}

  /** Resolves when the ack has reached Redis (with the next fetch, or alone). */
  add(tag: string, score: string): Promise<void> {
    this.#args.push(tag, score);
    this.#batch ??= deferred();
    this.#timer ??= setTimeout(() => void this.flush(), ACK_DELAY_MS);
    return this.#batch.promise;
  }

  /** The waiting acks, for a fetch to carry; undefined when there are none. */
  take(): TakenAcks | undefined {
    const pending = this.#batch;
    if (!pending) return undefined;
    const args = this.#args;
    this.#args = [];
    this.#batch = undefined;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    return { args, done: (err) => (err === undefined ? pending.resolve() : pending.reject(err)) };
  }

  /** Send the waiting acks now (the delay ran out, or the broker is closing). */
  async flush(): Promise<void> {
    const taken = this.take();
    if (!taken) return;
    try {
      await this.sendAlone(taken.args);
      taken.done();
    } catch (err) {
      taken.done(err);
    }
  }
}
