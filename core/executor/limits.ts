/**
 * Running a task function under its time limits (§8), and keeping its lease alive meanwhile.
 *
 * JavaScript cannot kill a running function: at the hard limit the executor stops waiting,
 * stores FAILURE TimeLimitExceeded and frees the run slot, and the task's AbortSignal fires so
 * a well-behaved task stops; code that ignores the signal runs on in the background and its
 * outcome is discarded.
 */
import { SoftTimeLimitExceeded, TimeLimitExceeded } from '../errors.js';
import type { Delivery } from '../ports.js';

export type RunOutcome = { kind: 'returned'; value: unknown } | { kind: 'threw'; error: unknown } | { kind: 'hard-limit'; seconds: number };

export interface Limits {
  hard: number | null;
  soft: number | null;
}

export async function runWithLimits(run: () => unknown, controller: AbortController, limits: Limits): Promise<RunOutcome> {
  const timers: NodeJS.Timeout[] = [];
  const { soft, hard } = limits;
  if (soft && soft > 0) {
    timers.push(setTimeout(() => controller.abort(new SoftTimeLimitExceeded(soft)), soft * 1000));
  }
  const running = Promise.resolve()
    .then(run)
    .then(
      (value): RunOutcome => ({ kind: 'returned', value }),
      (error): RunOutcome => ({ kind: 'threw', error }),
    );
  try {
    if (!hard || hard <= 0) return await running;
    const hardLimit = new Promise<RunOutcome>((resolve) => {
      timers.push(
        setTimeout(() => {
          controller.abort(new TimeLimitExceeded(hard));
          resolve({ kind: 'hard-limit', seconds: hard });
        }, hard * 1000),
      );
    });
    return await Promise.race([running, hardLimit]);
  } finally {
    for (const t of timers) clearTimeout(t);
  }
}

/**
 * While a delivery is held (waiting for a slot or running), extend its lease every third of
 * it, so a long task is not delivered a second time to another worker.
 */
export function keepLeaseAlive(d: Delivery, onError: (err: unknown) => void): () => void {
  const leaseMs = d.leaseMs;
  if (!leaseMs || leaseMs <= 0) return () => {};
  const timer = setInterval(() => d.extendLease(leaseMs).catch(onError), Math.max(1, Math.floor(leaseMs / 3)));
  timer.unref();
  return () => clearInterval(timer);
}
