/**
 * What a running task sees as its last parameter, and the retry decision it shares with
 * autoretryFor (celery-protocol.md §8: retry(), max_retries).
 */
import { MaxRetriesExceededError, Retry } from './errors.js';
import type { TaskHeaders } from './message.js';
import { retryCountdownMs } from './retry-policy.js';
import type { TaskOptions } from './task-options.js';

export interface RetryOptions {
  /** Seconds until the retry; default: the task's backoff or defaultRetryDelay (180 s). */
  countdown?: number;
  /** When to retry (wins over countdown). */
  eta?: Date;
  /** The error that caused the retry: stored with the RETRY state, raised when retries run out. */
  exc?: unknown;
  /** Overrides the task's maxRetries for this call (null = no limit). */
  maxRetries?: number | null;
}

export interface TaskContext {
  readonly id: string;
  readonly name: string;
  /** How many times this task has been retried so far (0 on the first run). */
  readonly retries: number;
  readonly headers: TaskHeaders;
  /** Keyword arguments, when the sender passed any (Python producers do). */
  readonly kwargs: Record<string, unknown>;
  /** Fires at the soft time limit (reason: SoftTimeLimitExceeded) or the hard limit (TimeLimitExceeded). */
  readonly signal: AbortSignal;
  readonly hostname: string;
  /** Schedule this task again and stop here (throws). Past maxRetries it throws `exc` or MaxRetriesExceededError. */
  retry(opts?: RetryOptions): never;
  /** Store a progress state, e.g. ('PROGRESS', { done: 3, total: 10 }); readers see it as `result.info`. */
  updateState(state: string, meta?: unknown): Promise<void>;
}

export const DEFAULT_MAX_RETRIES = 3;

/**
 * The error a retry request turns into: a Retry carrying the delay, or — once max retries are
 * used up — the given exc or MaxRetriesExceededError, which then fails the task (§8).
 */
export function planRetry(retries: number, options: TaskOptions, opts: RetryOptions = {}, taskName = 'task'): Error {
  const max = opts.maxRetries !== undefined ? opts.maxRetries : options.maxRetries !== undefined ? options.maxRetries : DEFAULT_MAX_RETRIES;
  if (max !== null && retries >= max) {
    if (opts.exc !== undefined) return opts.exc instanceof Error ? opts.exc : new Error(String(opts.exc));
    return new MaxRetriesExceededError(`Can't retry ${taskName}: max retries (${max}) exceeded.`);
  }
  const delayMs = opts.eta
    ? Math.max(0, opts.eta.getTime() - Date.now())
    : retryCountdownMs({ retries, countdown: opts.countdown, options });
  return new Retry(delayMs, opts.exc, opts.eta);
}

export interface ContextInit {
  id: string;
  name: string;
  headers: TaskHeaders;
  kwargs: Record<string, unknown>;
  signal: AbortSignal;
  hostname: string;
  options: TaskOptions;
  updateState(state: string, meta?: unknown): Promise<void>;
}

export function createTaskContext(init: ContextInit): TaskContext {
  const retries = Number(init.headers.retries) || 0;
  return {
    id: init.id,
    name: init.name,
    retries,
    headers: init.headers,
    kwargs: init.kwargs,
    signal: init.signal,
    hostname: init.hostname,
    retry(opts?: RetryOptions): never {
      throw planRetry(retries, init.options, opts, init.name);
    },
    updateState: init.updateState,
  };
}
