/**
 * The in-memory message store behind memory:// — the SQS model: a message is visible when its
 * `visibleAt` has passed; leasing, ETA and retry delays all just move `visibleAt`.
 * Priorities: 0–9, higher served first (AMQP's meaning), FIFO within a priority.
 */
import type { DeadLetter } from '../../core/ports.js';
import { MinHeap } from './heap.js';

export interface Entry {
  readonly id: number;
  queue: string;
  raw: string;
  priority: number;
  receiveCount: number;
  visibleAt: number;
  /** Changes on every lease, so a settle from a lost lease is recognised and ignored. */
  token: number;
  leased: boolean;
  gone: boolean;
}

const PRIORITY_LEVELS = 10;
/** Stale heap nodes tolerated beyond twice the live entries before the heap is compacted (amortised O(1) per node). */
const STALE_SLACK = 64;

export class MemoryQueues {
  #nextId = 1;
  #nextToken = 1;
  /** queue → one FIFO per priority of visible entries. */
  readonly #ready = new Map<string, Entry[][]>();
  /**
   * Entries not visible yet (ETA, delayed retry, leased), by visibleAt; stale nodes (an acked
   * entry's lease, a lease extended or released) are skipped when popped, and dropped all at once
   * when they outnumber the live entries: left until their time, an acked message would be kept
   * for the whole visibility timeout.
   */
  readonly #hidden = new MinHeap<{ entry: Entry; token: number }>();
  readonly #all = new Set<Entry>();
  readonly deadLetters: DeadLetter[] = [];

  add(queue: string, raw: string, priority: number, visibleAt: number, now: number): void {
    const entry: Entry = {
      id: this.#nextId++,
      queue,
      raw,
      priority: clampPriority(priority),
      receiveCount: 0,
      visibleAt,
      token: 0,
      leased: false,
      gone: false,
    };
    this.#all.add(entry);
    this.#place(entry, now);
  }

  /** Lease up to `max` visible entries of the queues, highest priority first. */
  lease(queues: string[], max: number, now: number, leaseMs: number): Entry[] {
    this.#promote(now);
    const out: Entry[] = [];
    for (let p = PRIORITY_LEVELS - 1; p >= 0 && out.length < max; p--) {
      for (const queue of queues) {
        const fifo = this.#ready.get(queue)?.[p];
        while (fifo && fifo.length > 0 && out.length < max) {
          const entry = fifo.shift() as Entry;
          if (entry.gone || entry.leased || entry.visibleAt > now) continue;
          entry.leased = true;
          entry.receiveCount++;
          entry.token = this.#nextToken++;
          this.#hide(entry, now + leaseMs);
          out.push(entry);
        }
      }
    }
    return out;
  }

  /** True when `token` still holds the entry's lease. */
  holds(entry: Entry, token: number): boolean {
    return !entry.gone && entry.leased && entry.token === token;
  }

  remove(entry: Entry): void {
    entry.gone = true;
    entry.raw = ''; // its payload is freed now, even while a stale heap node still holds the entry
    this.#all.delete(entry);
    this.#compact();
  }

  release(entry: Entry, visibleAt: number, now: number): void {
    entry.leased = false;
    entry.token = this.#nextToken++;
    entry.visibleAt = visibleAt;
    this.#place(entry, now);
  }

  extend(entry: Entry, visibleAt: number): void {
    this.#hide(entry, visibleAt);
  }

  /** Remove every waiting (not leased) entry of a queue. */
  purge(queue: string): number {
    let n = 0;
    for (const entry of this.#all) {
      if (entry.queue === queue && !entry.leased) {
        this.remove(entry);
        n++;
      }
    }
    return n;
  }

  size(queue: string): number {
    let n = 0;
    for (const entry of this.#all) if (entry.queue === queue && !entry.leased) n++;
    return n;
  }

  #place(entry: Entry, now: number): void {
    if (entry.visibleAt > now) {
      this.#hide(entry, entry.visibleAt);
      return;
    }
    let fifos = this.#ready.get(entry.queue);
    if (!fifos) {
      fifos = Array.from({ length: PRIORITY_LEVELS }, () => []);
      this.#ready.set(entry.queue, fifos);
    }
    (fifos[entry.priority] as Entry[]).push(entry);
  }

  #hide(entry: Entry, visibleAt: number): void {
    entry.visibleAt = visibleAt;
    this.#hidden.push(visibleAt, { entry, token: entry.token });
    this.#compact();
  }

  #compact(): void {
    if (this.#hidden.size <= 2 * this.#all.size + STALE_SLACK) return;
    this.#hidden.retain(({ entry, token }, key) => !entry.gone && entry.token === token && entry.visibleAt === key);
  }

  /** Make entries whose time has come visible again; an expired lease returns its message. */
  #promote(now: number): void {
    while ((this.#hidden.peekKey() ?? Number.POSITIVE_INFINITY) <= now) {
      const node = this.#hidden.pop();
      if (!node) break;
      const { entry, token } = node;
      if (entry.gone || entry.token !== token || entry.visibleAt > now) continue;
      entry.leased = false;
      entry.token = this.#nextToken++;
      this.#place(entry, now);
    }
  }
}

export const clampPriority = (p: number): number => Math.min(PRIORITY_LEVELS - 1, Math.max(0, Math.trunc(p) || 0));
