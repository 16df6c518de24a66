/**
 * What a running task sees as its last parameter, and the retry decision it shares with
 * autoretryFor (celery-protocol.md §8: retry(), max_retries).
 */
import { secondsFromNow, validDate } from './call-options.js';
import * as check from './config/checks.js';
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
  checkRetryOptions(opts, taskName);
  const max = opts.maxRetries !== undefined ? opts.maxRetries : options.maxRetries !== undefined ? options.maxRetries : DEFAULT_MAX_RETRIES;
  if (max !== null && retries >= max) {
    if (opts.exc !== undefined) return opts.exc instanceof Error ? opts.exc : new Error(String(opts.exc));
    return new MaxRetriesExceededError(`Can't retry ${taskName}: max retries (${max}) exceeded.`);
  }
  const delayMs = opts.eta ? Math.max(0, opts.eta.getTime() - Date.now()) : retryCountdownMs({ countdown: opts.countdown, options });
  return new Retry(delayMs, opts.exc, opts.eta);
}

export interface ContextInit {
  id: string;
  name: string;
  headers: TaskHeaders;
  kwargs: Record<string, unknown>;
  /** The task's signal; when absent one is made the first time the task reads `ctx.signal` (or a limit fires). */
  signal?: AbortSignal;
  hostname: string;
  options: TaskOptions;
  updateState(state: string, meta?: unknown): Promise<void>;
}

export function createTaskContext(init: ContextInit): RunContext {
  return new RunContext(init);
}

/**
 * The context as a class: its functions are made when read and its AbortController only when
 * the task reads `signal` or a time limit fires, so a task that uses none of them costs one
 * small object.
 */
export class RunContext implements TaskContext {
  readonly id: string;
  readonly name: string;
  readonly retries: number;
  readonly headers: TaskHeaders;
  readonly kwargs: Record<string, unknown>;
  readonly hostname: string;
  readonly #init: ContextInit;
  #controller: AbortController | undefined;

  constructor(init: ContextInit) {
    this.id = init.id;
    this.name = init.name;
    this.retries = Number(init.headers.retries) || 0;
    this.headers = init.headers;
    this.kwargs = init.kwargs;
    this.hostname = init.hostname;
    this.#init = init;
  }

  get signal(): AbortSignal {
    if (this.#init.signal) return this.#init.signal;
    this.#controller ??= new AbortController();
    return this.#controller.signal;
  }

  /**
   * A context used as a number or in `+` is a data parameter that got the context: a call with
   * one argument too few (the context comes after the arguments), which would otherwise succeed
   * with a wrong result ("1[object Object]"). It fails with TypeError, as in Python; as text (a
   * template string) it names itself.
   */
  [Symbol.toPrimitive](hint: string): string {
    if (hint === 'string') return `TaskContext(${this.name}[${this.id}])`;
    throw new TypeError(
      `${this.name}() used its TaskContext as a value: it was given fewer arguments than it takes (the context comes after them)`,
    );
  }

  /** Fire the signal (time limits). A no-op when the context was given its signal. */
  abort(reason: Error): void {
    if (this.#init.signal) return;
    this.#controller ??= new AbortController();
    this.#controller.abort(reason);
  }

  // Getters returning bound functions, so `async (x, { retry }) => ...` works, made only when used.
  get retry(): (opts?: RetryOptions) => never {
    return (opts) => {
      throw planRetry(this.retries, this.#init.options, opts, this.name);
    };
  }

  get updateState(): (state: string, meta?: unknown) => Promise<void> {
    return this.#init.updateState;
  }
}

const retryChecks: Record<keyof RetryOptions, check.Check> = {
  countdown: secondsFromNow,
  eta: validDate,
  exc: () => null,
  maxRetries: check.nullable(check.integer((n) => n >= 0, 'expected a whole number >= 0, or null for no limit')),
};

/**
 * A retry that cannot be scheduled (countdown NaN, an invalid Date) fails the task with the reason
 * (it is thrown from the task), instead of leaving a message no worker can settle.
 */
function checkRetryOptions(opts: RetryOptions, taskName: string): void {
  check.checkOptions(`${taskName}: retry()`, opts, retryChecks, { kind: 'a retry option', example: '{ countdown: 10 }' });
}
