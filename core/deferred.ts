/** A promise settled from outside, shared by many waiters (a batch flushed later, a confirmation). */
export interface Deferred {
  promise: Promise<void>;
  resolve(): void;
  reject(err: unknown): void;
}

export function deferred(): Deferred {
  let resolve!: () => void;
  let reject!: (err: unknown) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  // Every waiter gets the rejection; this only keeps one that nobody awaits from being unhandled.
  promise.catch(() => undefined);
  return { promise, resolve, reject };
}
