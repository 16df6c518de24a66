/**
 * The PullSource core's consume loop drives (core/pull-consumer.ts): fetch takes up to N messages
 * with one atomic script; when there are none it blocks on the queues' lists (ListWaiter) until
 * one has a message, the next delayed message is due, or this process hands one back.
 *
 * ETA: Celery puts ETA messages in the normal list (so a Python worker can run them, §2.4). A
 * celeriac consumer that fetches one still ahead of its time does not hold it: it leaves it in
 * unacked under the score at which restore brings it back when due (delay-message.ts), and the
 * broker's restorer runs a pass then (restore.ts), so the message is on time and any worker, of
 * either language, can run it.
 */
import { randomUUID } from 'node:crypto';
import { SerializationError } from '../../core/errors.js';
import { parseCeleryTime } from '../../core/message.js';
import type { Lease, PullSource } from '../../core/pull-consumer.js';
import { createClient } from './connection.js';
import type { BrokerContext } from './context.js';
import { type Fetched, deadLetter, delay, toLease } from './leases.js';
import { ListWaiter } from './list-waiter.js';
import { etaOf, mayHaveEta, parseObject } from './redelivery.js';
import { dueAtScore, scoreDueAt } from './restore-score.js';
import { fetchAndLease } from './scripts/fetch-and-lease.js';

/** How many fetches a consumer's prefetch window is split into. */
const FETCH_SHARE = 4;

/** Longest idle wait before fetching again anyway (delayed messages due, restored ones). */
const IDLE_CHECK_MS = 1000;

/**
 * Longest a fetch's receipt is kept (the next fetch deletes it sooner): a call re-sent later
 * than this takes a new batch, and the first comes back after the visibility timeout.
 */
const RECEIPT_MAX_MS = 300_000;

export class RedisSource implements PullSource {
  readonly idleMinMs = 0;
  readonly idleMaxMs = 100;
  #turn = 0;
  #nextDue = Number.POSITIVE_INFINITY;
  #stopped = false;
  /** The last take got fewer messages than asked: the lists were empty then. */
  #drained = false;
  #waiters: ListWaiter[] | undefined;
  readonly #wakers = new Set<() => void>();
  /** Ends the current idle wait, if any; what a returning blocking wait calls. */
  #idleDone: (() => void) | undefined;
  readonly #listReady = (): void => this.#idleDone?.();
  /** The last fetch's receipt, for the next fetch to delete. */
  #receipt: string | undefined;
  /** Most messages per fetch script call. */
  readonly #batch: number;
  /** How long a fetch's receipt is kept: whole milliseconds (SET's PX refuses 2009.99..., which a fractional visibility timeout gives). */
  readonly #receiptMs: number;

  constructor(
    private readonly ctx: BrokerContext,
    readonly queues: readonly string[],
    prefetch: number,
  ) {
    // A share of the window per call, so the next batch is fetched while this one runs: Redis
    // and this process then work at the same time instead of taking turns.
    this.#batch = Math.max(1, Math.ceil(prefetch / FETCH_SHARE));
    this.#receiptMs = Math.max(1, Math.ceil(Math.min(ctx.settings.visibilityTimeoutMs, RECEIPT_MAX_MS)));
  }

  async fetch(max: number): Promise<Lease[]> {
    // After a take that emptied the lists, wait for a message (the blocking wait returns at once
    // if one came meanwhile) instead of running the fetch script once more to find nothing.
    if (this.#drained) await this.#idle();
    if (this.#stopped) return [];
    const take = Math.min(max, this.#batch);
    const leases = await this.#take(take);
    if (leases.length > 0 || this.#stopped) return leases;
    await this.#idle();
    return this.#stopped ? [] : this.#take(take);
  }

  /** Wake an idle fetch now (this process published, handed back or delayed a message). */
  wake(): void {
    for (const w of [...this.#wakers]) w();
  }

  stop(): void {
    this.#stopped = true;
    this.wake();
    for (const w of this.#waiters ?? []) w.close();
  }

  async #take(max: number): Promise<Lease[]> {
    const { keys, client } = this.ctx;
    const order = this.#queueOrder();
    const lists = keys.prioritySteps.flatMap((step) => order.map((q) => keys.list(q, step)));
    const names = keys.prioritySteps.flatMap(() => order);
    const now = Date.now();
    const score = String(now / 1000);
    const acks = this.ctx.acks.take();
    // Restore's cutoff now: the reply names the next record to come due after it.
    const cutoff = scoreDueAt(now, this.ctx.settings.visibilityTimeoutMs);
    const call = randomUUID();
    const receipt = keys.fetchReceipt(call);
    let reply: string[];
    try {
      reply = await fetchAndLease.run<string[]>(
        client,
        [keys.unacked, keys.unackedIndex, receipt, this.#receipt ?? receipt, ...order.map((q) => keys.delayed(q)), ...lists],
        [max, score, now, `${call}.`, order.length, cutoff, this.#receiptMs, ...names, ...(acks?.args ?? [])],
      );
    } catch (err) {
      acks?.done(err);
      throw err;
    }
    acks?.done();
    this.#receipt = receipt;
    this.#nextDue = reply[0] ? Number(reply[0]) : Number.POSITIVE_INFINITY;
    // The next record to come due, whoever holds it (a worker busy or gone): restored then.
    if (reply[1]) this.ctx.restoreAt(dueAtScore(reply[1], this.ctx.settings.visibilityTimeoutMs));
    this.#drained = (reply.length - 2) / 3 < max;
    const leases: Lease[] = [];
    const holds: Promise<unknown>[] = [];
    for (let i = 2; i + 2 < reply.length; i += 3) {
      const f: Fetched = {
        tag: reply[i] as string,
        queue: reply[i + 1] as string,
        raw: reply[i + 2] as string,
        score,
      };
      const due = this.#dueAt(f.raw);
      if (due > Date.now()) {
        holds.push(delay(this.ctx, f, { tag: f.tag, envelope: f.raw, queue: f.queue, dueMs: due }).catch(this.#unencodable(f)));
        continue;
      }
      try {
        leases.push(toLease(this.ctx, f));
      } catch (err) {
        holds.push(this.#unencodable(f)(err));
      }
    }
    await Promise.all(holds);
    return leases;
  }

  /**
   * For a fetched message that could not be held or leased: one whose envelope cannot be written
   * again (a header nested too deeply for JSON) is dead-lettered with the reason, on its own —
   * the others fetched with it are held and leased as usual; any other error fails the fetch.
   */
  #unencodable(f: Fetched): (err: unknown) => Promise<void> {
    return (err) =>
      err instanceof SerializationError
        ? deadLetter(this.ctx, f, `its envelope cannot be marked and written again: ${err.message}`)
        : Promise.reject(err);
  }

  /** The queues in the order queue_order_strategy serves them within each priority step (§2.2). */
  #queueOrder(): readonly string[] {
    switch (this.ctx.settings.queueOrder) {
      case 'priority':
        return this.queues;
      case 'sorted':
        return [...this.queues].sort();
      case 'round_robin': {
        // Start with the next queue each time.
        const start = this.#turn++ % this.queues.length;
        return [...this.queues.slice(start), ...this.queues.slice(0, start)];
      }
    }
  }

  /** When a message may run: its ETA in epoch ms, or 0 (no ETA, or one that cannot be read: the executor decides). */
  #dueAt(raw: string): number {
    if (!mayHaveEta(raw)) return 0;
    const env = parseObject(raw);
    const eta = env && etaOf(env);
    const t = eta ? parseCeleryTime(eta) : Number.NaN;
    return Number.isNaN(t) ? 0 : t;
  }

  async #idle(): Promise<void> {
    // A record restored meanwhile ends the wait: the restorer wakes this source, another one's push the list waiters.
    const waitMs = Math.min(IDLE_CHECK_MS, this.#nextDue - Date.now());
    if (waitMs <= 0) return;
    this.#waiters ??= this.ctx.keys.prioritySteps.flatMap((step) =>
      this.queues.map((q) => {
        const key = this.ctx.keys.list(q, step);
        return new ListWaiter(createClient(this.ctx.settings.connection, { name: 'celeriac-wait' }), key);
      }),
    );
    // Not urgent: first let the tasks just fetched send their results (flushed this tick). A
    // message arriving meanwhile is found by the blocking wait, which returns at once.
    await new Promise<void>((resolve) => setImmediate(resolve));
    if (this.#stopped) return;
    await new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.#wakers.delete(done);
        this.#idleDone = undefined;
        resolve();
      };
      const timer = setTimeout(done, waitMs);
      this.#wakers.add(done);
      this.#idleDone = done;
      for (const w of this.#waiters ?? []) w.arm(this.#listReady);
    });
  }
}
