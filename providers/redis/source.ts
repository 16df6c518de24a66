/**
 * The PullSource core's consume loop drives (core/pull-consumer.ts): fetch takes up to N messages
 * with one atomic script; when there are none it blocks on the queues' lists (ListWaiter) until
 * one has a message, the next delayed message is due, or this process hands one back.
 *
 * ETA: Celery puts ETA messages in the normal list (so a Python worker can run them, §2.4). A
 * celeriac consumer that fetches one still ahead of its time moves it straight from unacked to the
 * delayed set, so a long ETA never waits in unacked past the visibility timeout.
 */
import { randomUUID } from 'node:crypto';
import { parseCeleryTime } from '../../core/message.js';
import type { Lease, PullSource } from '../../core/pull-consumer.js';
import { createClient } from './connection.js';
import type { BrokerContext } from './context.js';
import { PRIORITY_STEPS } from './keys.js';
import { type Fetched, delay, toLease } from './leases.js';
import { ListWaiter } from './list-waiter.js';
import { etaOf, mayHaveEta, parseObject } from './redelivery.js';
import { fetchAndLease } from './scripts/fetch-and-lease.js';

/** Longest idle wait before fetching again anyway (delayed messages due, restored ones). */
const IDLE_CHECK_MS = 1000;

export class RedisSource implements PullSource {
  readonly idleMinMs = 0;
  readonly idleMaxMs = 100;
  #turn = 0;
  #nextDue = Number.POSITIVE_INFINITY;
  #stopped = false;
  #waiters: ListWaiter[] | undefined;
  readonly #wakers = new Set<() => void>();

  constructor(
    private readonly ctx: BrokerContext,
    readonly queues: readonly string[],
  ) {}

  async fetch(max: number): Promise<Lease[]> {
    const leases = await this.#take(max);
    if (leases.length > 0 || this.#stopped) return leases;
    await this.#idle();
    return this.#stopped ? [] : this.#take(max);
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
    // queue_order_strategy round_robin (§2.2): start with the next queue each time.
    const start = this.#turn++ % this.queues.length;
    const order = [...this.queues.slice(start), ...this.queues.slice(0, start)];
    const lists = PRIORITY_STEPS.flatMap((step) => order.map((q) => keys.list(q, step)));
    const names = PRIORITY_STEPS.flatMap(() => order);
    const now = Date.now();
    const score = String(now / 1000);
    const reply = await fetchAndLease.run<string[]>(
      client,
      [keys.unacked, keys.unackedIndex, ...order.map((q) => keys.delayed(q)), ...lists],
      [max, score, now, `${randomUUID()}.`, order.length, ...names],
    );
    this.#nextDue = reply[0] ? Number(reply[0]) : Number.POSITIVE_INFINITY;
    const leases: Lease[] = [];
    const holds: Promise<boolean>[] = [];
    for (let i = 1; i + 2 < reply.length; i += 3) {
      const f: Fetched = {
        tag: reply[i] as string,
        queue: reply[i + 1] as string,
        raw: reply[i + 2] as string,
        score,
      };
      const due = this.#dueAt(f.raw);
      if (due > Date.now()) {
        holds.push(delay(this.ctx, f, f.raw, f.queue, due));
        this.#nextDue = Math.min(this.#nextDue, due);
        continue;
      }
      leases.push(toLease(this.ctx, f));
    }
    await Promise.all(holds);
    return leases;
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
    const waitMs = Math.min(IDLE_CHECK_MS, this.#nextDue - Date.now());
    if (waitMs <= 0) return;
    this.#waiters ??= PRIORITY_STEPS.flatMap((step) =>
      this.queues.map((q) => {
        const key = this.ctx.keys.list(q, step);
        return new ListWaiter(createClient(this.ctx.settings.connection, { name: 'celeriac-wait' }), key);
      }),
    );
    await new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.#wakers.delete(done);
        resolve();
      };
      const timer = setTimeout(done, waitMs);
      this.#wakers.add(done);
      for (const w of this.#waiters ?? []) void w.whenNonEmpty().then(done);
    });
  }
}
