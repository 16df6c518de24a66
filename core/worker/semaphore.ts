/** Run slots: at most `size` tasks run at once (the worker's concurrency). */
interface Waiter {
  resolve(release: () => void): void;
  reject(e: unknown): void;
  signal: AbortSignal | undefined;
}

export class Semaphore {
  private free: number;
  private readonly waiters: Waiter[] = [];
  /** Signals already listened to: one listener per signal, not one per waiter (hundreds wait at once). */
  private readonly watched = new WeakSet<AbortSignal>();

  constructor(readonly size: number) {
    this.free = size;
  }

  /** A release function at once when a slot is free, else undefined. */
  tryAcquire(): (() => void) | undefined {
    if (this.free <= 0) return undefined;
    this.free--;
    return this.releaser();
  }

  /** Resolves with a release function once a slot is free; rejects if the signal fires first. */
  acquire(signal?: AbortSignal): Promise<() => void> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    const now = this.tryAcquire();
    if (now) return Promise.resolve(now);
    if (signal && !this.watched.has(signal)) {
      this.watched.add(signal);
      signal.addEventListener('abort', () => this.rejectWaiters(signal), { once: true });
    }
    return new Promise((resolve, reject) => {
      this.waiters.push({ resolve, reject, signal });
    });
  }

  get inUse(): number {
    return this.size - this.free;
  }

  private rejectWaiters(signal: AbortSignal): void {
    const stay: Waiter[] = [];
    for (const w of this.waiters.splice(0)) {
      if (w.signal === signal) w.reject(signal.reason);
      else stay.push(w);
    }
    this.waiters.push(...stay);
  }

  private releaser(): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.waiters.shift();
      if (next) next.resolve(this.releaser());
      else this.free++;
    };
  }
}
