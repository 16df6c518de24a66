/**
 * What `app.worker(options)` takes, and the check it passes first: plain JavaScript callers get
 * no compile-time check, and a worker with concurrency 0, a queue list given as one string or a
 * misspelled option would start and silently do nothing, or something else.
 */
import * as check from '../config/checks.js';
import type { Logger } from '../log.js';

export interface WorkerOptions {
  /** Node name; default `celery@<host>`, as Celery's. */
  hostname?: string;
  /** Tasks run at once; default worker_concurrency, else the CPU count. */
  concurrency?: number;
  /** Queues to consume; default [task_default_queue]. */
  queues?: string[];
  prefetchMultiplier?: number;
  logger?: Logger;
  /** How long stop() lets running tasks finish (default 30 s). */
  shutdownGraceMs?: number;
  /** Send task events (Celery's -E; default worker_send_task_events). Worker heartbeats are sent either way. */
  sendEvents?: boolean;
}

const optionChecks: Record<keyof WorkerOptions, check.Check> = {
  hostname: check.string("expected a node name such as 'worker1@host'"),
  concurrency: check.integer((n) => n > 0, 'expected a whole number of tasks > 0'),
  queues: check.is(
    (v) => Array.isArray(v) && v.length > 0 && v.every((q) => typeof q === 'string' && q !== ''),
    "expected a non-empty list of queue names such as ['celery', 'mail']",
  ),
  prefetchMultiplier: check.integer((n) => n >= 0, 'expected a whole number >= 0 (0: no limit)'),
  logger: check.is((v) => typeof v === 'object' && v !== null, 'expected a logger'),
  shutdownGraceMs: check.number((n) => n >= 0, 'expected milliseconds >= 0'),
  sendEvents: check.boolean(),
};

export function checkWorkerOptions(opts: unknown): void {
  check.checkOptions('app.worker(options)', opts, optionChecks, { kind: 'a worker option', example: '{ concurrency: 4 }' });
}
