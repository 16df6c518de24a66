/**
 * Keeps the leases of held deliveries alive: each is extended every third of its lease, so a
 * long task is not delivered a second time to another worker. One timer serves every delivery
 * of the process (a timer per delivery costs more than the task at thousands of tasks a second);
 * it fires at the earliest extension due and scans what is held then.
 */
import type { Delivery } from '../ports.js';

interface Held<C> {
  context: C;
  leaseMs: number;
  /** When the next extension is due (Date.now() ms). */
  due: number;
}

export class LeaseKeeper<C> {
  readonly #held = new Map<Delivery, Held<C>>();
  #timer: NodeJS.Timeout | undefined;
  #timerAt = Number.POSITIVE_INFINITY;

  constructor(private readonly onError: (d: Delivery, context: C, error: unknown) => void) {}

  /** Keep `d`'s lease alive until release(d); a delivery without a lease is ignored. */
  hold(d: Delivery, context: C): void {
    const leaseMs = d.leaseMs;
    if (!leaseMs || leaseMs <= 0) return;
    const due = Date.now() + period(leaseMs);
    this.#held.set(d, { context, leaseMs, due });
    if (due < this.#timerAt) this.#schedule(due);
  }

  release(d: Delivery): void {
    this.#held.delete(d);
  }

  #schedule(at: number): void {
    clearTimeout(this.#timer);
    this.#timerAt = at;
    this.#timer = setTimeout(() => this.#tick(), Math.max(1, at - Date.now()));
    this.#timer.unref();
  }

  #tick(): void {
    this.#timer = undefined;
    this.#timerAt = Number.POSITIVE_INFINITY;
    const now = Date.now();
    let next = Number.POSITIVE_INFINITY;
    for (const [d, h] of this.#held) {
      if (h.due <= now) {
        h.due = now + period(h.leaseMs);
        d.extendLease(h.leaseMs).catch((error) => this.onError(d, h.context, error));
      }
      if (h.due < next) next = h.due;
    }
    if (next !== Number.POSITIVE_INFINITY) this.#schedule(next);
  }
}

const period = (leaseMs: number): number => Math.max(1, Math.floor(leaseMs / 3));
