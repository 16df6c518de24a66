/** What the executor needs from its driver, and what it tells the driver back. */
import type { Retry } from '../errors.js';
import type { FollowUp } from './canvas.js';
import type { OverrideReader } from './overrides.js';
import type { TaskMessage } from '../message.js';
import type { ResultBackend } from '../ports.js';
import type { RateLimiter } from '../rate-limit.js';
import type { TaskOptions } from '../task-options.js';

/** A task as the executor runs it: its function and its options with annotations applied. */
export interface RunnableTask {
  readonly name: string;
  // biome-ignore lint/suspicious/noExplicitAny: task functions take any arguments; the context comes last.
  readonly fn: (...args: any[]) => unknown;
  readonly options: TaskOptions;
}

/** The settings the executor reads (from app.conf, resolved once by the driver). */
export interface ExecutorSettings {
  acceptContent: readonly string[];
  ignoreResult: boolean;
  trackStarted: boolean;
  acksLate: boolean;
  timeLimit: number | null;
  softTimeLimit: number | null;
  resultExtended: boolean;
  disableRateLimits: boolean;
}

/** Run slots shared by a driver's deliveries (its concurrency). */
export interface RunSlots {
  acquire(signal?: AbortSignal): Promise<() => void>;
  /** A slot at once when one is free (no promise, no wait), else undefined. */
  tryAcquire?(): (() => void) | undefined;
}

export interface ExecutorDeps {
  tasks: { get(name: string): RunnableTask | undefined };
  backend: ResultBackend;
  settings: ExecutorSettings;
  rateLimiter: RateLimiter;
  slots: RunSlots;
  hostname: string;
  isRevoked(taskId: string): boolean;
  /**
   * Set when revokes and rate limits live in the result store (a broker without a control
   * channel: SQS, Pub/Sub; core/overrides.ts): read for each task before it runs and again after
   * it waited, so `isRevoked` and the rate limiter see what `celeriac control` stored.
   */
  overrides?: OverrideReader;
  /** Publish a retry of a task whose message was already acked (acksLate: false). */
  republish?(message: TaskMessage): Promise<void>;
  /** Send a task's follow-up (a chain's next step, a link callback or errback; executor/canvas.ts). */
  sendFollowUp?(followUp: FollowUp): Promise<void>;
  /**
   * Time the driver has left (a function invocation's remaining time, in ms): the soft time
   * limit never reaches past it, so a task is told to stop before the platform kills it.
   */
  timeLeftMs?(): number;
  /**
   * With timeLeftMs: the time a delivery has at the start of a fresh invocation. A task the
   * time left cuts short that started with much less than this is handed back to run in a fresh
   * one; one that had (nearly) all of it fails with SoftTimeLimitExceeded, as it would again.
   */
  timeBudgetMs?: number;
  /**
   * With timeLeftMs: the time left before the driver must settle its deliveries and answer (ms),
   * a little more than timeLeftMs. The hard time limit never reaches past it, so a task that
   * ignores its signal is abandoned (as at any hard limit) while the driver can still answer.
   */
  hardTimeLeftMs?(): number;
  /** Fires when the driver stops: deliveries not yet started are handed back. */
  shutdown?: AbortSignal;
  onEvent?(event: ExecutorEvent): void;
}

/** The reason of a hand-back at shutdown (logged at debug: routine, unlike a hand-back for want of time). */
export const STOPPING = 'the worker is stopping';

/** How a delivery ended. */
export type Fate =
  | 'acked' // done: result stored (or ignored) and the message removed
  | 'retried' // scheduled again with retries+1
  | 'deferred' // ETA not reached: handed back until it is
  | 'handed-back' // not run to its end (the driver is stopping, or has no time left): the message comes back
  | 'dead-lettered' // bad input: moved aside with its reason
  | 'store-failed'; // the result could not be stored: not acked, so the message comes back

/** The task an event is about: its id, its registered name and the name it is shown under, if its sender set one (shadow). */
export interface TaskRef {
  id: string;
  name: string;
  shadow?: string;
}

/** The name Celery's worker shows a task under, in its log lines and events: `shadow or name`. */
export function shownName(task: { name: string; shadow?: string | null }): string;
export function shownName(task: { name?: string; shadow?: string | null }): string | undefined;
export function shownName(task: { name?: string; shadow?: string | null }): string | undefined {
  return task.shadow || task.name;
}

export type ExecutorEvent =
  | ({ type: 'received'; message: TaskMessage } & TaskRef)
  | ({ type: 'started'; message: TaskMessage; args: unknown[]; kwargs: Record<string, unknown> } & TaskRef)
  | ({ type: 'succeeded'; runtimeMs: number; result: unknown } & TaskRef)
  | ({ type: 'failed'; runtimeMs: number; error: unknown; traceback: string | null } & TaskRef)
  | ({ type: 'retried'; retry: Retry } & TaskRef)
  | ({ type: 'revoked'; reason: 'revoked' | 'expired' } & TaskRef)
  | ({ type: 'deferred'; delayMs: number } & TaskRef)
  | ({ type: 'handed-back'; reason: string; delayMs: number } & TaskRef)
  /** Delivered again after it succeeded (its ack lost): acked without running it again. */
  | ({ type: 'duplicate' } & TaskRef)
  | { type: 'rejected'; id?: string; name?: string; reason: string }
  | { type: 'internal-error'; id?: string; name?: string; during: string; error: unknown };
