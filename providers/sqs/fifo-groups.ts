/**
 * FIFO message groups among the messages one consumer holds. AWS may return several messages of
 * one group in one ReceiveMessage, in order, and keeps the group locked while any of them is in
 * flight; run side by side, they would break the group's order. So a group's messages are handed
 * out one after another in receive order, the next only when the one before is settled:
 *
 * - ack, deadLetter, or retryLater with a replacement (the retry is a new message at the end of
 *   the group, as Celery sends it): the next one of the group is handed out;
 * - retryLater without one (hidden for an ETA or a backoff, or handed back): the rest are handed
 *   back too, visible at once. The hidden message is still in flight, so SQS keeps the group
 *   locked and delivers them again only after it, in the group's order.
 */
import type { Lease } from '../../core/pull-consumer.js';

export interface Grouped {
  /** Undefined when the message could not be leased and was handed back already. */
  lease: Lease | undefined;
  group: string;
}

export class FifoGroups {
  /** For each group with a message handed out: the messages received after it, in order. */
  readonly #waiting = new Map<string, Lease[]>();
  #held = 0;

  /** `handOut` takes the next message of a group when the one before it is settled. */
  constructor(private readonly handOut: (lease: Lease) => void) {}

  /** Messages held back behind one of their group. */
  get held(): number {
    return this.#held;
  }

  /**
   * One receive's messages, in receive order. Returns those to hand out now: the first of each
   * group with none handed out. A message that could not be leased takes the rest of its group
   * in this receive back with it.
   */
  admit(received: Grouped[]): Lease[] {
    const now: Lease[] = [];
    const broken = new Set<string>();
    for (const { lease, group } of received) {
      if (!lease || broken.has(group)) {
        broken.add(group);
        lease?.retryLater(0).catch(() => undefined);
        continue;
      }
      const waiting = this.#waiting.get(group);
      if (waiting) {
        waiting.push(lease);
        this.#held++;
      } else {
        this.#waiting.set(group, []);
        now.push(this.#chained(lease, group));
      }
    }
    return now;
  }

  /** Hand back every message held behind one of its group (the consumer stops). */
  handBackAll(): Promise<unknown> {
    return Promise.all([...this.#waiting.keys()].map((group) => this.#handBackRest(group)));
  }

  /** The lease, settled so that the rest of its group follows. */
  #chained(lease: Lease, group: string): Lease {
    return {
      raw: lease.raw,
      queue: lease.queue,
      receiveCount: lease.receiveCount,
      malformed: lease.malformed,
      leaseMs: lease.leaseMs,
      extendLease: (ms) => lease.extendLease(ms),
      ack: () => {
        this.#next(group);
        return lease.ack();
      },
      deadLetter: (reason) => {
        this.#next(group);
        return lease.deadLetter(reason);
      },
      retryLater: (delayMs, replacement) => {
        if (replacement) this.#next(group);
        else void this.#handBackRest(group);
        return lease.retryLater(delayMs, replacement);
      },
    };
  }

  #next(group: string): void {
    const next = this.#waiting.get(group)?.shift();
    if (!next) {
      this.#waiting.delete(group);
      return;
    }
    this.#held--;
    this.handOut(this.#chained(next, group));
  }

  #handBackRest(group: string): Promise<unknown> {
    const rest = this.#waiting.get(group) ?? [];
    this.#waiting.delete(group);
    this.#held -= rest.length;
    return Promise.all(rest.map((lease) => lease.retryLater(0).catch(() => undefined)));
  }
}
