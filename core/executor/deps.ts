/**
 * Building the executor's dependencies from an app: what every driver (the worker loop, the
 * Lambda handler, the emulator's runner) shares, so they decide fates from the same settings.
 */
import type { Settings } from '../config/settings.js';
import { KeyValueResultBackend } from '../kv-result-backend.js';
import type { ResultBackend } from '../ports.js';
import { RateLimiter } from '../rate-limit.js';
import { Semaphore } from '../worker/semaphore.js';
import type { FollowUp } from './canvas.js';
import { OverrideReader } from './overrides.js';
import type { ExecutorDeps, ExecutorSettings, RunnableTask } from './types.js';

/** What a driver needs from its app to run tasks. */
export interface ExecutorApp {
  readonly conf: Readonly<Settings>;
  backend(): Promise<ResultBackend>;
  /** Registered tasks with their options resolved (annotations applied). */
  runnableTasks(): Map<string, RunnableTask>;
  sendFollowUp(followUp: FollowUp): Promise<void>;
}

/** The parts that differ by driver. */
export interface DriverParts
  extends Pick<ExecutorDeps, 'hostname' | 'republish' | 'shutdown' | 'onEvent' | 'timeLeftMs' | 'timeBudgetMs' | 'hardTimeLeftMs'> {
  /**
   * The driver's revoked ids, when its broker has a control channel to hear revokes on. Without
   * one (SQS, Pub/Sub), revokes and rate limits come from the result store: see `overrides`.
   */
  isRevoked?: ExecutorDeps['isRevoked'];
  /** Tasks run at once. */
  concurrency: number;
  /** The driver's own run slots (the worker watches how many are in use), else new ones for `concurrency`. */
  slots?: ExecutorDeps['slots'];
  /** The driver's own limiter, when it changes rates at run time (remote control); else a new one. */
  rateLimiter?: RateLimiter;
}

export function executorSettings(conf: Readonly<Settings>): ExecutorSettings {
  return {
    acceptContent: conf.accept_content,
    ignoreResult: conf.task_ignore_result,
    trackStarted: conf.task_track_started,
    acksLate: conf.task_acks_late,
    timeLimit: conf.task_time_limit,
    softTimeLimit: conf.task_soft_time_limit,
    resultExtended: conf.result_extended,
    disableRateLimits: conf.worker_disable_rate_limits,
  };
}

export interface DriverDeps extends ExecutorDeps {
  tasks: Map<string, RunnableTask>;
}

/** Opens the result backend and sets each task's rate limit (its option, else task_default_rate_limit). */
export async function executorDeps(app: ExecutorApp, parts: DriverParts): Promise<DriverDeps> {
  const { concurrency, rateLimiter = new RateLimiter(), isRevoked, slots = new Semaphore(concurrency), ...driver } = parts;
  const conf = app.conf;
  const backend = await app.backend();
  const tasks = app.runnableTasks();
  for (const task of tasks.values()) rateLimiter.set(task.name, task.options.rateLimit ?? conf.task_default_rate_limit);
  const overrides = !isRevoked && backend instanceof KeyValueResultBackend ? new OverrideReader(backend.kv, rateLimiter) : undefined;
  return {
    ...driver,
    sendFollowUp: (f) => app.sendFollowUp(f),
    tasks,
    backend,
    settings: executorSettings(conf),
    rateLimiter,
    slots,
    isRevoked: isRevoked ?? ((id) => overrides?.isRevoked(id) ?? false),
    overrides,
  };
}
