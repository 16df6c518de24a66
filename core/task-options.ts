/** Options a task is defined with (app.task) — camelCase forms of Celery's task attributes. */
export type ErrorClass = abstract new (...args: never[]) => Error;

export interface TaskOptions {
  /** Queue the task is sent to unless the call says otherwise; task_routes do not change it (as in Celery). */
  queue?: string;
  /** '10/s', '10/m', '10/h', a number (per second), or null/0 for none. Per worker, as in Celery. */
  rateLimit?: string | number | null;
  /** Default 3; null = retry forever. */
  maxRetries?: number | null;
  /** Seconds before a retry when retry() gets no countdown. Default 180. */
  defaultRetryDelay?: number;
  /** Error classes (or a predicate) that retry the task automatically. */
  autoretryFor?: readonly ErrorClass[] | ((err: unknown) => boolean);
  /** true = factor 1; a number = that factor (seconds): countdown = factor * 2^retries. Default false. */
  retryBackoff?: boolean | number;
  /** Cap for backoff in seconds. Default 600. */
  retryBackoffMax?: number;
  /** Randomise the backoff countdown in [0, countdown]. Default true. */
  retryJitter?: boolean;
  /** Hard limit in seconds: the task fails with TimeLimitExceeded and its slot is freed. */
  timeLimit?: number;
  /** Soft limit in seconds: the task's AbortSignal fires. */
  softTimeLimit?: number;
  ignoreResult?: boolean;
  trackStarted?: boolean;
  /** Ack after the result is stored (default true in celeriac: nothing is lost if a worker dies). */
  acksLate?: boolean;
  /** Seconds from sending, or an absolute Date, after which the task is REVOKED instead of run. */
  expires?: number | Date;
  /** 0-9. */
  priority?: number;
  /**
   * SQS FIFO queues: the message group. Messages of one group run in order, one at a time;
   * groups run side by side. Default: the task name (every call of the task in one line).
   */
  messageGroup?: string;
}
