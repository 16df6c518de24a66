/**
 * Running a task function under its time limits (§8).
 *
 * JavaScript cannot kill a running function: at the hard limit the executor stops waiting,
 * stores FAILURE TimeLimitExceeded and frees the run slot, and the task's AbortSignal fires so
 * a well-behaved task stops; code that ignores the signal runs on in the background and its
 * outcome is discarded.
 */
import { SoftTimeLimitExceeded, TimeLimitExceeded } from '../errors.js';
import { type LongTimeout, setLongTimeout } from '../long-timeout.js';

export type RunOutcome = { kind: 'returned'; value: unknown } | { kind: 'threw'; error: unknown } | { kind: 'hard-limit'; seconds: number };

export interface Limits {
  hard: number | null;
  soft: number | null;
}

/**
 * `task.abort` fires the task's signal with the limit's error as reason. Without limits a
 * synchronous function's outcome comes back as it is, not in a promise.
 */
export function runWithLimits(run: () => unknown, task: { abort(reason: Error): void }, limits: Limits): RunOutcome | Promise<RunOutcome> {
  const { soft, hard } = limits;
  const hasSoft = soft !== null && soft > 0;
  const hasHard = hard !== null && hard > 0;
  if (!hasSoft && !hasHard) return outcomeOf(run); // the common case: no timers at all
  return runTimed(run, task, hasSoft ? soft : null, hasHard ? hard : null);
}

async function runTimed(
  run: () => unknown,
  task: { abort(reason: Error): void },
  soft: number | null,
  hard: number | null,
): Promise<RunOutcome> {
  const timers: LongTimeout[] = [];
  if (soft !== null) timers.push(setLongTimeout(() => task.abort(new SoftTimeLimitExceeded(soft)), soft * 1000));
  const started = performance.now();
  try {
    const running = outcomeOf(run);
    if (hard === null) return await running;
    const hardLimit = new Promise<RunOutcome>((resolve) => {
      timers.push(
        setLongTimeout(() => {
          task.abort(new TimeLimitExceeded(hard));
          resolve({ kind: 'hard-limit', seconds: hard });
        }, hard * 1000),
      );
    });
    const outcome = await Promise.race([running, hardLimit]);
    // Code that never yields (a synchronous stretch) keeps the timer from firing: a task that
    // ran past its hard limit still fails with it, as Celery's pool would have killed it there.
    if (outcome.kind !== 'hard-limit' && performance.now() - started > hard * 1000) {
      task.abort(new TimeLimitExceeded(hard));
      return { kind: 'hard-limit', seconds: hard };
    }
    return outcome;
  } finally {
    for (const t of timers) t.clear();
  }
}

function outcomeOf(run: () => unknown): RunOutcome | Promise<RunOutcome> {
  let value: unknown;
  try {
    value = run();
    // Inside the try: reading `then` runs a getter when the value has one, and it may throw (a revoked Proxy), as `await value` would.
    if (!isThenable(value)) return { kind: 'returned', value };
  } catch (error) {
    return { kind: 'threw', error };
  }
  return Promise.resolve(value).then(
    (v): RunOutcome => ({ kind: 'returned', value: v }),
    (error): RunOutcome => ({ kind: 'threw', error }),
  );
}

const isThenable = (v: unknown): v is PromiseLike<unknown> =>
  v !== null && (typeof v === 'object' || typeof v === 'function') && typeof (v as { then?: unknown }).then === 'function';
