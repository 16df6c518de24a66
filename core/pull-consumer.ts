/**
 * The consume loop every pull-based transport shares (kombu's virtual transport idea, STYLE.md
 * §1): a provider supplies `fetch(max)` returning leased raw envelopes; this loop keeps at most
 * `prefetch` deliveries unsettled, decodes envelopes (garbage becomes a malformed Delivery, never
 * a crash), waits with a short adaptive backoff when idle and wakes at once when told to.
 */
import { MalformedMessage, type TaskOfMessage } from './errors.js';
import { decodeEnvelope, taskOfEnvelope } from './envelope.js';
import type { TaskMessage } from './message.js';
import type { ConsumeOptions, Consumer, Delivery } from './ports.js';

/** One message a provider has leased to this consumer. */
export interface Lease {
  raw: string;
  queue: string;
  receiveCount: number;
  /** Set when the provider already knows the message cannot be run (e.g. over its size limit); skips decoding. */
  malformed?: string;
  leaseMs?: number;
  ack(): Promise<void>;
  retryLater(delayMs: number, replacement?: TaskMessage): Promise<void>;
  deadLetter(reason: string): Promise<void>;
  extendLease(ms: number): Promise<void>;
}

export interface PullSource {
  /** Lease up to `max` visible messages. */
  fetch(max: number): Lease[] | Promise<Lease[]>;
  /** Call `wake` when a message may have become visible (an in-process publish); returns an unsubscribe. */
  subscribe?(wake: () => void): () => void;
  /** Idle backoff bounds: the first empty poll waits minMs, doubling up to maxMs. */
  idleMinMs: number;
  idleMaxMs: number;
}

export function startPullConsumer(source: PullSource, handler: (d: Delivery) => Promise<void>, opts: ConsumeOptions): Consumer {
  const prefetch = Math.max(1, Math.floor(opts.prefetch));
  let inflight = 0;
  let stopped = false;
  let wakeTimer: NodeJS.Timeout | undefined;
  let wakeNow: (() => void) | undefined;
  let wakePending = false;

  const wake = (): void => {
    wakePending = true;
    wakeNow?.();
  };
  const unsubscribe = source.subscribe?.(wake);

  let wakeScheduled = false;
  const wakeDeferred = (): void => {
    wakeScheduled = false;
    wake();
  };
  const settled = (): void => {
    inflight--;
    // Defer so several settles in one tick free their slots before the next (batched) fetch.
    if (!wakeScheduled) {
      wakeScheduled = true;
      setImmediate(wakeDeferred);
    }
  };

  const sleep = (ms: number): Promise<void> =>
    new Promise((resolve) => {
      if (wakePending || stopped) return resolve();
      wakeNow = () => {
        clearTimeout(wakeTimer);
        wakeNow = undefined;
        resolve();
      };
      wakeTimer = setTimeout(wakeNow, ms);
    });

  const loop = (async () => {
    let idle = source.idleMinMs;
    while (!stopped) {
      wakePending = false;
      const free = prefetch - inflight;
      if (free <= 0) {
        await sleep(source.idleMaxMs);
        continue;
      }
      let leases: Lease[];
      try {
        leases = await source.fetch(free);
      } catch (err) {
        // A transient failure (database busy, connection lost): try again after the longest idle wait.
        opts.onError?.(err);
        await sleep(source.idleMaxMs);
        continue;
      }
      if (stopped) {
        // Fetched while stopping: hand them straight back.
        await Promise.all(leases.map((l) => l.retryLater(0)));
        break;
      }
      if (leases.length === 0) {
        await sleep(idle);
        idle = Math.min(source.idleMaxMs, idle * 2);
        continue;
      }
      idle = source.idleMinMs;
      for (const lease of leases) {
        inflight++;
        const delivery = toDelivery(lease, settled);
        handler(delivery).catch(() => {
          // A handler that throws leaves the message to its lease (nothing lost); free the slot so the loop goes on.
          delivery.release();
        });
      }
    }
  })();

  return {
    async stop() {
      stopped = true;
      wakeNow?.();
      unsubscribe?.();
      await loop;
    },
  };
}

export interface OwnedDelivery extends Delivery {
  /** Free the prefetch slot without settling (handler failed). */
  release(): void;
}

/** A lease as the executor sees it: the envelope decoded (or the reason it is malformed), settled at most once. */
export function toDelivery(lease: Lease, onSettled: () => void = () => {}): OwnedDelivery {
  return new LeasedDelivery(lease, onSettled);
}

// A class rather than an object of closures: thousands are made a second.
class LeasedDelivery implements OwnedDelivery {
  readonly message: TaskMessage | undefined;
  readonly malformed: string | undefined;
  readonly malformedTask: TaskOfMessage | undefined;
  readonly raw: string;
  readonly queue: string;
  readonly receiveCount: number;
  readonly leaseMs: number | undefined;
  #done = false;

  constructor(
    private readonly lease: Lease,
    private readonly onSettled: () => void,
  ) {
    let malformed = lease.malformed;
    if (malformed === undefined) {
      try {
        this.message = decodeEnvelope(lease.raw, lease.queue);
      } catch (err) {
        malformed = (err as Error).message;
        this.malformedTask = err instanceof MalformedMessage ? err.task : undefined;
      }
    } else {
      this.malformedTask = taskOfEnvelope(lease.raw);
    }
    this.malformed = malformed;
    this.raw = lease.raw;
    this.queue = lease.queue;
    this.receiveCount = lease.receiveCount;
    this.leaseMs = lease.leaseMs;
  }

  ack(): Promise<void> {
    return this.#settle() ? this.lease.ack() : Promise.resolve();
  }

  retryLater(delayMs: number, replacement?: TaskMessage): Promise<void> {
    return this.#settle() ? this.lease.retryLater(delayMs, replacement) : Promise.resolve();
  }

  deadLetter(reason: string): Promise<void> {
    return this.#settle() ? this.lease.deadLetter(reason) : Promise.resolve();
  }

  extendLease(ms: number): Promise<void> {
    return this.#done ? Promise.resolve() : this.lease.extendLease(ms);
  }

  release(): void {
    this.#settle();
  }

  /** Exactly one settle ends a delivery; later ones (e.g. shutdown racing a finishing task) are no-ops. */
  #settle(): boolean {
    if (this.#done) return false;
    this.#done = true;
    this.onSettled();
    return true;
  }
}

/** The consumers a broker has started, so that close() stops them all. */
export class ConsumerSet {
  readonly #all = new Set<Consumer>();

  /** Track `consumer`; stopping the returned one also forgets it. */
  track(consumer: Consumer): Consumer {
    const tracked: Consumer = {
      stop: async () => {
        this.#all.delete(tracked);
        await consumer.stop();
      },
    };
    this.#all.add(tracked);
    return tracked;
  }

  async stopAll(): Promise<void> {
    await Promise.all([...this.#all].map((c) => c.stop()));
  }
}
