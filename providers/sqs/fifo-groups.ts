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
 *
 * A held message's visibility timeout runs from its receive: whenever the message handed out
 * before it is extended (the executor's heartbeat), the ones held behind it are extended by a
 * whole lease too (up to 12 h from their receive, SQS's most), in the same
 * ChangeMessageVisibilityBatch, or SQS would give them out again while they wait. Handed out,
 * a held message reports the lease time it has left, which the heartbeat is timed by; one whose
 * time ran out (its extensions failed) is handed back with the rest of its group, which SQS
 * delivers again in order.
 */
import type { Lease } from '../../core/pull-consumer.js';
import type { SqsLease } from './lease.js';
import { visibilitySeconds } from './limits.js';

export interface Grouped {
  /** Undefined when the message could not be leased and was handed back already. */
  lease: SqsLease | undefined;
  group: string;
}

/** A message held behind one of its group, and when its visibility timeout runs out (Date.now() ms). */
interface Held {
  lease: SqsLease;
  expires: number;
}

export class FifoGroups {
  /** For each group with a message handed out: the messages received after it, in order. */
  readonly #waiting = new Map<string, Held[]>();
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
        waiting.push({ lease, expires: Date.now() + lease.leaseMs });
        this.#held++;
      } else {
        this.#waiting.set(group, []);
        now.push(this.#chained(lease, group, lease.leaseMs));
      }
    }
    return now;
  }

  /** Hand back every message held behind one of its group (the consumer stops). */
  handBackAll(): Promise<unknown> {
    return Promise.all([...this.#waiting.keys()].map((group) => this.#handBackRest(group)));
  }

  /** The lease, with `leaseMs` left, settled so that the rest of its group follows, and extended with it. */
  #chained(lease: SqsLease, group: string, leaseMs: number): Lease {
    return {
      raw: lease.raw,
      queue: lease.queue,
      receiveCount: lease.receiveCount,
      malformed: lease.malformed,
      leaseMs,
      extendLease: (ms) => {
        this.#extendHeld(group);
        return lease.extendLease(ms);
      },
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
    const waiting = this.#waiting.get(group);
    const next = waiting?.[0];
    if (!waiting || !next) {
      this.#waiting.delete(group);
      return;
    }
    const left = next.expires - Date.now();
    if (left <= 0) {
      void this.#handBackRest(group);
      return;
    }
    waiting.shift();
    this.#held--;
    this.handOut(this.#chained(next.lease, group, left));
  }

  /**
   * Extend every message held in `group` by its whole lease, as far as SQS's 12 h from its receive
   * allow; a failed extension leaves its expiry as it was.
   */
  #extendHeld(group: string): void {
    for (const held of this.#waiting.get(group) ?? []) {
      const expires = Date.now() + visibilitySeconds(held.lease.leaseMs, held.lease.receivedAt) * 1000;
      held.lease.extendLease(held.lease.leaseMs).then(
        () => {
          held.expires = expires;
        },
        () => undefined,
      );
    }
  }

  #handBackRest(group: string): Promise<unknown> {
    const rest = this.#waiting.get(group) ?? [];
    this.#waiting.delete(group);
    this.#held -= rest.length;
    return Promise.all(rest.map(({ lease }) => lease.retryLater(0).catch(() => undefined)));
  }
}
