/**
 * Waiting for work no longer than a deadline: a command a client holds through a lost
 * connection (to re-send it once reconnected) must not outlast a caller's timeout or a
 * shutdown's bound. The work itself is not cancelled, only no longer waited for.
 */
import { type LongTimeout, setLongTimeout } from './long-timeout.js';

/** `work`'s outcome, or `late()`'s once `deadline` (epoch ms) passes first. */
export async function byDeadline<T, L>(work: Promise<T>, deadline: number, late: () => L | Promise<L>): Promise<T | L> {
  if (deadline === Number.POSITIVE_INFINITY) return work;
  let timer: LongTimeout | undefined;
  const expired = new Promise<L>((resolve) => {
    timer = setLongTimeout(() => resolve(Promise.resolve().then(late)), Math.max(0, deadline - Date.now()));
  });
  try {
    return await Promise.race([work, expired]);
  } finally {
    timer?.clear();
  }
}

/** Whether `step` settles (either way) by `deadline` (epoch ms). */
export function settledBy(step: Promise<unknown> | undefined, deadline: number): Promise<boolean> {
  if (!step) return Promise.resolve(true);
  return byDeadline(
    step.then(
      () => true,
      () => true,
    ),
    deadline,
    () => false,
  );
}
