/**
 * How long a task waits before its next attempt (celery-protocol.md §8; Celery's
 * get_exponential_backoff_interval in celery/utils/time.py).
 */
import type { TaskOptions } from './task-options.js';

/** Celery's default_retry_delay. */
export const DEFAULT_RETRY_DELAY_S = 180;
/** Celery's retry_backoff_max. */
export const DEFAULT_RETRY_BACKOFF_MAX_S = 600;

/**
 * Milliseconds until the next attempt of a retry: an explicit `countdown` (seconds) wins, else
 * defaultRetryDelay (180 s), as Celery's Task.retry(). `retries` counts the attempts already made.
 */
export function retryCountdownMs(opts: { countdown?: number | undefined; options: TaskOptions }): number {
  const { countdown, options } = opts;
  if (countdown !== undefined) return Math.max(0, countdown * 1000);
  return (options.defaultRetryDelay ?? DEFAULT_RETRY_DELAY_S) * 1000;
}

/**
 * The countdown (seconds) of an automatic retry (autoretryFor) with retryBackoff:
 * min(retryBackoffMax, factor·2^retries), drawn uniformly from [0, that] when retryJitter (default
 * true) so retrying workers do not stampede together; undefined without retryBackoff. As in Celery,
 * the backoff is autoretry's only: a task's own retry() waits its countdown or defaultRetryDelay.
 */
export function backoffSeconds(opts: {
  retries: number;
  options: TaskOptions;
  /** [0, 1) source for the jitter; Math.random by default. */
  random?: () => number;
}): number | undefined {
  const { retries, options } = opts;
  const backoff = options.retryBackoff ?? false;
  if (backoff === false) return undefined;
  const factor = backoff === true ? 1 : backoff;
  let seconds = Math.min(options.retryBackoffMax ?? DEFAULT_RETRY_BACKOFF_MAX_S, factor * 2 ** retries);
  if (options.retryJitter ?? true) seconds *= (opts.random ?? Math.random)();
  return Math.max(0, Math.round(seconds * 1000) / 1000);
}
