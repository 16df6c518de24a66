/**
 * Coalesces operations issued in the same tick into one flush (one SQLite transaction, one
 * Redis pipeline): at thousands of acks and result writes a second, a round trip or a commit
 * per operation is the bottleneck, one per tick is not.
 */

/** Runs a batch; returns one outcome per item, in order (an Error outcome rejects only that item). */
export type Flush<T, R> = (items: T[]) => Promise<Array<R | Error>> | Array<R | Error>;

interface Pending<T, R> {
  item: T;
  resolve(value: R): void;
  reject(err: unknown): void;
}

export class Batcher<T, R> {
  #pending: Pending<T, R>[] = [];
  #scheduled = false;
  /** Runs awaiting their flush: a run scheduled while another flushes overlaps it, and idle waits for both. */
  #flushing = 0;
  #idle: Promise<void> = Promise.resolve();
  #markIdle: () => void = () => {};

  /**
   * `when`: 'immediate' (default) flushes after this turn's I/O callbacks, so work finishing in
   * the same I/O turn joins the batch; 'tick' flushes once this task's microtasks are done, a
   * little sooner (for writes a waiting client is blocked on).
   */
  constructor(
    private readonly flush: Flush<T, R>,
    private readonly maxBatch = 1000,
    private readonly when: 'immediate' | 'tick' = 'immediate',
  ) {}

  /** Queue one operation; it runs with everything else queued before the flush. */
  add(item: T): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.#pending.push({ item, resolve, reject });
      // Idle (nothing scheduled, nothing flushing): a new idle promise for drain().
      if (!this.#scheduled && this.#flushing === 0) {
        this.#idle = new Promise((done) => {
          this.#markIdle = done;
        });
      }
      if (!this.#scheduled) {
        this.#scheduled = true;
        if (this.when === 'tick') process.nextTick(() => void this.#run());
        else setImmediate(() => void this.#run());
      }
    });
  }

  /** Resolves once everything queued so far has been flushed (call before closing the connection). */
  drain(): Promise<void> {
    return this.#idle;
  }

  async #run(): Promise<void> {
    this.#scheduled = false;
    this.#flushing++;
    while (this.#pending.length > 0) {
      const batch = this.#pending.splice(0, this.maxBatch);
      try {
        const outcomes = await this.flush(batch.map((p) => p.item));
        batch.forEach((p, i) => {
          const out = outcomes[i];
          if (out instanceof Error) p.reject(out);
          else p.resolve(out as R);
        });
      } catch (err) {
        for (const p of batch) p.reject(err);
      }
    }
    this.#flushing--;
    if (this.#flushing === 0 && !this.#scheduled) this.#markIdle();
  }
}
