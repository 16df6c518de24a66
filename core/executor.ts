/**
 * THE executor: the one function that decides the fate of every delivered message, for every
 * driver (the worker loop, cloud function handlers, the emulator). DESIGN.md "One executor".
 *
 * In order: bad input is dead-lettered with its reason; revoked and expired tasks become REVOKED;
 * a task whose ETA is still ahead is handed back until then (never held in memory, so an ETA
 * longer than the lease cannot run twice); the task waits for its rate limit, then for a run
 * slot; it runs under its time limits; its state is stored; then the message is acked, retried
 * or — if the result could not be stored — left to come back.
 */
import { showValue } from './config/checks.js';
import {
  CeleriacError,
  ConfigError,
  MalformedMessage,
  NotRegistered,
  Retry,
  SoftTimeLimitExceeded,
  TaskRevokedError,
  TimeLimitExceeded,
  refusedForGood,
  unstorable,
} from './errors.js';
import { type FollowUps, NONE, childrenOf, onFailure, onSuccess } from './executor/canvas.js';
import { checkArity } from './executor/arity.js';
import { backoffSeconds } from './retry-policy.js';
import { chainFollows, failChain } from './executor/chain-failure.js';
import { inChord, joinChord } from './executor/chord.js';
import { sendFollowUps } from './executor/send-follow-ups.js';
import { LeaseKeeper } from './executor/lease-keeper.js';
import { runWithLimits } from './executor/limits.js';
import type { OverrideReader } from './executor/overrides.js';
import { type ParsedCall, type Refusal, parseDelivery } from './executor/parse.js';
import { ResultWriter, celeryMeta } from './executor/results.js';
import { type ExecutorDeps, type ExecutorEvent, type Fate, type RunnableTask, STOPPING, type TaskRef } from './executor/types.js';
import { celeryIso } from './message-builder.js';
import { encodeException } from './exception-codec.js';
import { type TaskHeaders, type TaskMessage, notBefore, parseCeleryTime } from './message.js';
import type { Delivery } from './ports.js';
import { FAILURE, REVOKED, STARTED, SUCCESS } from './states.js';
import { createTaskContext, planRetry } from './task-context.js';
import { checkJson, unsafeIntegerError, unsafeIntegerLiteral } from './serialization.js';

export type { ExecutorDeps, ExecutorEvent, ExecutorSettings, Fate, RunnableTask, RunSlots } from './executor/types.js';

/** While a delivery is held (waiting for a slot or running) its lease is kept alive, by one timer for all. */
const leases = new LeaseKeeper<ExecutorDeps>((d, deps, error) =>
  emit(deps, { type: 'internal-error', id: d.message?.headers.id, during: 'extending the lease', error }),
);

export async function executeDelivery(d: Delivery, deps: ExecutorDeps): Promise<Fate> {
  leases.hold(d, deps);
  try {
    return await decide(d, deps);
  } finally {
    leases.release(d);
  }
}

async function decide(d: Delivery, deps: ExecutorDeps): Promise<Fate> {
  const parsed = parseDelivery(d, deps.settings.acceptContent);
  if ('reason' in parsed) return refuse(d, deps, parsed);

  const { message } = parsed;
  const { id, task: name } = message.headers;
  // Its result (and any revoke) could never be stored or read: dead-lettered, not handed back forever.
  const tooLong = deps.backend.taskIdTooLong?.(id);
  if (tooLong) return deadLetter(d, deps, tooLong, message.headers);
  const task = deps.tasks.get(name);
  if (!task) {
    // Celery stores FAILURE NotRegistered for an unknown task, then drops the message (§8).
    const reason = `unknown task '${name}': no task of that name is registered on worker ${deps.hostname}`;
    return refuse(d, deps, { reason, task: { id, name }, error: new NotRegistered(name) }, parsed);
  }

  const results = writerFor(task, parsed, deps);
  // A Python int beyond 2^53 would reach the task rounded: the task fails with the reason instead.
  const unsafe = unsafeIntegerLiteral(message.body);
  if (unsafe) return fail(d, deps, parsed, results, unsafeIntegerError('the arguments', unsafe, 'send it as a string'), 0, true);
  // The revoke counter the first read saw: a second read, after a wait, skips the id unless it moved.
  let revokesSeen: number | undefined;
  if (deps.overrides) {
    revokesSeen = await readOverrides(d, deps, deps.overrides, message);
    if (revokesSeen === undefined) return 'store-failed';
  }
  const revoked = revokedReason(deps, message.headers);
  if (revoked) return discard(d, deps, parsed, results, revoked);

  const delayMs = notBefore(message) - Date.now();
  if (delayMs > 0) {
    emit(deps, { type: 'deferred', ...refOf(message.headers), delayMs });
    await d.retryLater(delayMs);
    return 'deferred';
  }
  // Delivered again: a run that stored its SUCCESS but lost its ack (a lease lost while a
  // synchronous stretch blocked the event loop, a crash after the store) is not run again. A
  // chord header task runs again, to complete its chord (its first part stays: executor/chord.ts).
  if (d.receiveCount > 1 && !results.taskIgnores && !inChord(parsed) && (await succeededBefore(deps, id))) {
    await d.ack().catch((error) => emit(deps, { type: 'internal-error', id, name, during: 'acking', error }));
    emit(deps, { type: 'duplicate', ...refOf(message.headers) });
    return 'acked';
  }

  // Written out, not ...refOf(): received, started and succeeded go out for every task.
  emit(deps, { type: 'received', id, name, shadow: message.headers.shadow ?? undefined, message });
  const wait = rateLimitPastDeadline(name, deps);
  if (wait !== undefined) {
    return giveBack(d, deps, message, wait, `its rate limit allows the next run in ${seconds(wait)}s, after this invocation ends`);
  }
  let release: () => void;
  let waited = false;
  try {
    // The rate limit is waited for before taking a slot, so a throttled task never idles a slot.
    // Checked here too: the fast paths below (no limit, a free slot) do not look at the signal.
    deps.shutdown?.throwIfAborted();
    if (!deps.settings.disableRateLimits && deps.rateLimiter.get(name) !== null) {
      waited = deps.rateLimiter.waitMs(name) > 0;
      const token = deps.rateLimiter.take(name, deps.shutdown);
      // A rate changed in the result store reaches the takers already waiting (a control channel's does at once).
      await (deps.overrides ? deps.overrides.whileWaiting(name, token) : token);
    }
    const free = deps.slots.tryAcquire?.();
    waited ||= free === undefined;
    release = free ?? (await deps.slots.acquire(deps.shutdown));
  } catch (err) {
    if (!deps.shutdown?.aborted) throw err;
    return giveBack(d, deps, message, 0, STOPPING);
  }
  try {
    // A revoke may have arrived, or the expiry passed, while this task waited (one kept in the
    // result store is read again: what was read before the wait may be a second old or more).
    if (waited && deps.overrides && (await readOverrides(d, deps, deps.overrides, message, revokesSeen)) === undefined)
      return 'store-failed';
    const late = revokedReason(deps, message.headers);
    if (late) return await discard(d, deps, parsed, results, late);
    // A driver with a deadline (a function invocation) may have used it all up while this task waited for a slot.
    if (deps.timeLeftMs && deps.timeLeftMs() <= 0) return await giveBack(d, deps, message, 0, 'no time was left in this invocation');
    return await run(d, deps, task, parsed, results, release);
  } finally {
    release();
  }
}

/** Run the task and settle the delivery by its outcome. `release` frees the run slot once the function is done. */
async function run(
  d: Delivery,
  deps: ExecutorDeps,
  task: RunnableTask,
  call: ParsedCall,
  results: ResultWriter,
  release: () => void,
): Promise<Fate> {
  const { message, args, kwargs } = call;
  const { id, task: name } = message.headers;
  const acksLate = task.options.acksLate ?? deps.settings.acksLate;
  if (!acksLate) await d.ack(); // the task asked for early acks: a crash from here on loses it (§8)

  if (task.options.trackStarted ?? deps.settings.trackStarted) {
    await results
      .state(STARTED, { pid: process.pid, hostname: deps.hostname })
      .catch((error) => emit(deps, { type: 'internal-error', id, name, during: 'storing STARTED', error }));
  }
  emit(deps, { type: 'started', id, name, shadow: message.headers.shadow ?? undefined, message, args, kwargs });

  const ctx = createTaskContext({
    id,
    name,
    headers: message.headers,
    kwargs,
    hostname: deps.hostname,
    options: task.options,
    updateState: (state, meta) => storeProgress(results, name, state, meta),
  });
  // A limit of 0 (or none) in the message falls back to the task's, as Celery reads `hard or task.time_limit`.
  const [hard, soft] = (message.headers.timelimit ?? [null, null]).map((limit) => limit || null);
  const softLimit = withinTimeLeft(soft ?? task.options.softTimeLimit ?? deps.settings.softTimeLimit, deps);
  const ownHard = hard ?? task.options.timeLimit ?? deps.settings.timeLimit;
  const hardLimit = withinHardTimeLeft(ownHard, deps);
  const started = performance.now();
  const outcome = await runWithLimits(
    () => {
      checkArity(name, task.fn, args, kwargs);
      return task.fn(...args, ctx);
    },
    ctx,
    {
      hard: hardLimit,
      soft: softLimit.seconds,
    },
  );
  const runtimeMs = performance.now() - started;
  // The function is done (or abandoned at the hard limit): its slot goes to the next task while
  // this outcome is stored and acked. Slots bound running tasks; prefetch bounds held messages.
  release();

  // Stopped by the time left: its signal, or the deadline's hard limit when it ignored the signal
  // or never yielded (a synchronous run past the deadline ends as a hard-limit outcome, whatever
  // the signal says). Acked early, its message is gone: a cut-short run is then its outcome.
  const stoppedByTimeLeft = ctx.signal.reason instanceof SoftTimeLimitExceeded || (outcome.kind === 'hard-limit' && hardLimit !== ownHard);
  if (outcome.kind !== 'returned' && softLimit.handBack && acksLate && stoppedByTimeLeft) {
    const reason = `it started late in this invocation and ran out of its time after ${seconds(runtimeMs)}s: it runs again in a fresh one`;
    return giveBack(d, deps, message, 0, reason);
  }
  if (outcome.kind === 'hard-limit') {
    return fail(d, deps, call, results, new TimeLimitExceeded(outcome.seconds), runtimeMs, acksLate);
  }
  if (outcome.kind === 'threw') {
    const next = retryFor(outcome.error, task, ctx.retries);
    if (next instanceof Retry) return retry(d, deps, call, results, next, runtimeMs, acksLate);
    return fail(d, deps, call, results, next, runtimeMs, acksLate);
  }
  try {
    checkJson(outcome.value, `the return value of ${name}`); // refuse what JSON would corrupt, as at send time
  } catch (error) {
    return fail(d, deps, call, results, error, runtimeMs, acksLate);
  }
  const value = outcome.value === undefined ? null : outcome.value;
  const followUps = onSuccess(call, value);
  if (followUps !== NONE) {
    const error = await follow(deps, call, followUps);
    // A follow-up the broker refuses for good (too large, say) fails the task, as in Celery's
    // worker: handed back, the task would run and be refused again forever.
    if (refusedForGood(error)) return fail(d, deps, call, results, error, runtimeMs, acksLate);
    const notFollowed = await unsent(d, deps, call, acksLate, error);
    if (notFollowed) return notFollowed;
  }
  try {
    const store = withChord(
      deps,
      call,
      SUCCESS,
      () => results.state(SUCCESS, value, followUps === NONE ? undefined : childrenOf(followUps)),
      () => value,
    );
    if (!(await settle(d, deps, call, acksLate, store))) return 'store-failed';
  } catch (refused) {
    if (!unstorable(refused)) throw refused;
    return fail(d, deps, call, results, refused, runtimeMs, acksLate);
  }
  emit(deps, { type: 'succeeded', id, name, shadow: message.headers.shadow ?? undefined, runtimeMs, result: value });
  return 'acked';
}

/** ctx.updateState: a state name and JSON meta, refused with the reason (as a return value would be) rather than failing in the store. */
async function storeProgress(results: ResultWriter, name: string, state: unknown, meta: unknown): Promise<void> {
  if (typeof state !== 'string' || state === '') {
    throw new ConfigError(
      `${name}: updateState(state, meta): state must be a non-empty string such as 'PROGRESS', got ${showValue(state)}`,
    );
  }
  checkJson(meta, `updateState('${state}') meta`);
  await results.progress(state, meta ?? null);
}

/**
 * Send the follow-ups of a finished task before its result is stored, as Celery's worker does.
 * A part of the embed this worker cannot follow is reported. Resolves with the error of a send
 * that failed (the rest are not tried): the caller hands the message back, so the task runs
 * again and its follow-ups go out then — at least once, never lost.
 */
async function follow(deps: ExecutorDeps, call: ParsedCall, followUps: FollowUps): Promise<unknown> {
  try {
    await sendFollowUps(deps, followUps, (what) => notFollowed(deps, call, what));
    return undefined;
  } catch (error) {
    return error;
  }
}

function notFollowed(deps: ExecutorDeps, call: ParsedCall, what: string): void {
  const { id, task: name } = call.message.headers;
  emit(deps, { type: 'internal-error', id, name, during: 'following the task', error: new CeleriacError(`${what} was not followed`) });
}

/**
 * A finished task's store step; a chord header task's also adds its part to the chord, after
 * its own result (as Celery does) and before the ack, so a failure there hands the message back.
 */
function withChord(
  deps: ExecutorDeps,
  call: ParsedCall,
  state: string,
  store: () => Promise<void>,
  result: () => unknown,
): () => Promise<void> {
  if (!inChord(call)) return store;
  return async () => {
    await store();
    await joinChord(deps, call, state, result(), (what) => notFollowed(deps, call, what));
  };
}

/** withChord for an exception state (FAILURE, REVOKED): the part holds the error as the meta does. */
const withChordException = (deps: ExecutorDeps, call: ParsedCall, results: ResultWriter, state: string, error: () => unknown) =>
  withChord(
    deps,
    call,
    state,
    () => results.exception(state, error()),
    () => encodeException(error()).info,
  );

/** A follow-up that could not be sent: the message comes back (acks_late) or, acked early already or refused for good, the loss is reported. */
async function unsent(d: Delivery, deps: ExecutorDeps, call: ParsedCall, acksLate: boolean, error: unknown): Promise<Fate | undefined> {
  if (error === undefined) return undefined;
  const { id, task: name } = call.message.headers;
  if (refusedForGood(error)) {
    emit(deps, { type: 'internal-error', id, name, during: 'sending its follow-ups (refused: not sent)', error });
    return undefined;
  }
  if (acksLate) {
    await handBack(d, deps, taskOf(call), error, 'sending its follow-ups (the message will come back)');
    return 'store-failed';
  }
  emit(deps, { type: 'internal-error', id, name, during: 'sending its follow-ups (acked early: they are lost)', error });
  return undefined;
}

/**
 * The soft limit (s), shortened to the driver's time left when that comes first. `handBack`:
 * the time left cut it and the task starts with much less than a fresh invocation has (late in
 * its batch), so if that cut stops it, it is handed back to run again in a fresh invocation.
 */
function withinTimeLeft(soft: number | null, deps: ExecutorDeps): { seconds: number | null; handBack: boolean } {
  if (!deps.timeLeftMs) return { seconds: soft, handBack: false };
  const leftMs = msLeft(deps.timeLeftMs);
  const seconds = capped(soft, leftMs);
  if (seconds === soft) return { seconds, handBack: false };
  return { seconds, handBack: deps.timeBudgetMs !== undefined && leftMs < deps.timeBudgetMs * LATE_START };
}

/** The hard limit (s), shortened to the driver's time left to settle when that comes first. */
function withinHardTimeLeft(hard: number | null, deps: ExecutorDeps): number | null {
  return deps.hardTimeLeftMs ? capped(hard, msLeft(deps.hardTimeLeftMs)) : hard;
}

/** A limit (s), or the time left (ms) in seconds when there is none or it does not fit. */
const capped = (limit: number | null, leftMs: number): number => (limit && limit > 0 && limit * 1000 <= leftMs ? limit : leftMs / 1000);
const msLeft = (left: () => number): number => Math.max(1, Math.round(left()));

/** A task that starts with less than this share of a fresh invocation's time started late. */
const LATE_START = 0.9;

const seconds = (ms: number): string => String(Math.round(ms) / 1000);

/** With a deadline, the wait (ms) for the task's rate limit when it ends past the deadline. */
function rateLimitPastDeadline(name: string, deps: ExecutorDeps): number | undefined {
  if (!deps.timeLeftMs || deps.settings.disableRateLimits) return undefined;
  const wait = deps.rateLimiter.waitMs(name);
  return wait > 0 && wait >= deps.timeLeftMs() ? wait : undefined;
}

/** A task that must run again from the start (or did not start) goes back to the broker, to come back after `delayMs`. */
async function giveBack(d: Delivery, deps: ExecutorDeps, message: TaskMessage, delayMs: number, reason: string): Promise<Fate> {
  emit(deps, { type: 'handed-back', ...refOf(message.headers), reason, delayMs });
  await d.retryLater(delayMs);
  return 'handed-back';
}

/** A thrown Retry stays one; an error listed in autoretryFor becomes one (or the final failure). */
function retryFor(error: unknown, task: RunnableTask, retries: number): unknown {
  if (error instanceof Retry) return error;
  const auto = task.options.autoretryFor;
  const matches = typeof auto === 'function' ? auto(error) : (auto?.some((cls) => error instanceof cls) ?? false);
  return matches
    ? planRetry(retries, task.options, { exc: error, countdown: backoffSeconds({ retries, options: task.options }) }, task.name)
    : error;
}

async function retry(
  d: Delivery,
  deps: ExecutorDeps,
  call: ParsedCall,
  results: ResultWriter,
  r: Retry,
  runtimeMs: number,
  acksLate: boolean,
): Promise<Fate> {
  const { id, task: name } = call.message.headers;
  // RETRY is progress, not a result: if it cannot be stored the retry still goes ahead.
  await results.retrying(r.exc).catch((error) => emit(deps, { type: 'internal-error', id, name, during: 'storing RETRY', error }));
  const again = retryMessage(call.message, r.countdownMs);
  try {
    if (acksLate) {
      await d.retryLater(r.countdownMs, again);
    } else {
      if (!deps.republish) throw new Error(`cannot retry ${name}[${id}]: its message was acked early and this driver cannot publish`);
      await deps.republish(again);
    }
  } catch (error) {
    // A retry the broker refuses for good (too large, say) fails the task: handed back, it
    // would run and be refused again until the message is dead-lettered unexplained.
    if (refusedForGood(error)) return fail(d, deps, call, results, error, runtimeMs, acksLate);
    if (acksLate) throw error; // handed back: the message comes back and the task runs again
    // Acked before it ran: nothing comes back (Celery loses it too, Reject requeue=False). Said
    // so, and FAILURE stored with why, so a get() ends instead of waiting on RETRY forever.
    emit(deps, { type: 'internal-error', id, name, during: 'publishing its retry (acked early: the retry is lost)', error });
    return fail(d, deps, call, results, error, runtimeMs, acksLate);
  }
  emit(deps, { type: 'retried', ...refOf(call.message.headers), retry: r });
  return 'retried';
}

async function fail(
  d: Delivery,
  deps: ExecutorDeps,
  call: ParsedCall,
  results: ResultWriter,
  error: unknown,
  runtimeMs: number,
  acksLate: boolean,
): Promise<Fate> {
  const followUps = onFailure(call);
  if (followUps !== NONE) {
    const notFollowed = await unsent(d, deps, call, acksLate, await follow(deps, call, followUps));
    if (notFollowed) return notFollowed;
  }
  // Celery acks failures and timeouts too (acks_on_failure_or_timeout, §8): a retry is explicit.
  let failure = error;
  const own = withChordException(deps, call, results, FAILURE, () => failure);
  const store = chainFollows(call)
    ? async () => {
        await own();
        await failChain(deps, call, failure, !results.taskIgnores, (what) => notFollowed(deps, call, what));
      }
    : own;
  try {
    if (!(await settle(d, deps, call, acksLate, store))) return 'store-failed';
  } catch (refused) {
    if (!unstorable(refused)) throw refused;
    // The error itself cannot be stored (a huge message or traceback, one nested too deeply for JSON): store why instead.
    failure = refused;
    if (!(await settle(d, deps, call, acksLate, store))) return 'store-failed';
  }
  emit(deps, { type: 'failed', ...refOf(call.message.headers), runtimeMs, error: failure, traceback: stackOf(failure) });
  return 'acked';
}

/** Whether the task's SUCCESS is stored (a store that cannot say means no: the task runs). */
function succeededBefore(deps: ExecutorDeps, id: string): Promise<boolean> {
  return deps.backend.get(id).then(
    (meta) => meta?.status === SUCCESS,
    () => false,
  );
}

/** An error's stack, or null: a stack getter that throws (the error was stored without it) must not stop the report. */
function stackOf(error: unknown): string | null {
  try {
    return error instanceof Error ? (error.stack ?? null) : null;
  } catch {
    return null;
  }
}

/** Store, then ack (acks_late); when the task acked early only the store is left. Throws what the store can never hold (see tryStore). */
async function settle(d: Delivery, deps: ExecutorDeps, call: ParsedCall, acksLate: boolean, store: () => Promise<void>): Promise<boolean> {
  if (acksLate) {
    if (!(await tryStore(d, deps, call, store))) return false;
    await d
      .ack()
      .catch((error) =>
        emit(deps, { type: 'internal-error', id: call.message.headers.id, name: call.message.headers.task, during: 'acking', error }),
      );
    return true;
  }
  try {
    await store();
  } catch (error) {
    if (unstorable(error)) throw error; // stored as the FAILURE by the caller, as with acks_late
    emit(deps, {
      type: 'internal-error',
      id: call.message.headers.id,
      name: call.message.headers.task,
      during: 'storing the result',
      error,
    });
  }
  return true;
}

/**
 * Store; when that fails the message is handed back (see handBack) — except for a value the
 * store can never hold (too large for it, or not writable as JSON: see unstorable), which is
 * thrown for the caller to store as a FAILURE: handed back, the task would run again and fail to
 * store again, forever.
 */
async function tryStore(d: Delivery, deps: ExecutorDeps, call: ParsedCall, store: () => Promise<void>): Promise<boolean> {
  try {
    await store();
    return true;
  } catch (error) {
    if (unstorable(error)) throw error;
    return handBack(d, deps, taskOf(call), error);
  }
}

/**
 * A message that cannot settle for want of the result store (its result cannot be stored, its
 * revokes cannot be read) must not be acked: it is handed back, doubling from 1 s with each
 * delivery up to a minute, and runs again — at-least-once, with the task id as idempotency key.
 * Drivers use it too, for what fails past the executor. Resolves false: the delivery did not
 * settle as its outcome.
 */
export async function handBack(
  d: Delivery,
  deps: Pick<ExecutorDeps, 'onEvent'>,
  { id, name }: { id?: string; name?: string },
  error: unknown,
  during = 'storing the result (the message will come back)',
): Promise<false> {
  emit(deps, { type: 'internal-error', id, name, during, error });
  const backoffMs = Math.min(60_000, 1000 * 2 ** Math.max(0, d.receiveCount - 1));
  await d.retryLater(backoffMs).catch(() => undefined); // if even that fails, the lease expiry brings it back
  return false;
}

const taskOf = (call: ParsedCall) => ({ id: call.message.headers.id, name: call.message.headers.task });

/**
 * Where revokes and rate limits live in the result store (ExecutorDeps.overrides), reads them for
 * this task. Resolves with the revoke counter read (OverrideReader.refresh), or undefined when the
 * store cannot be read: the message was handed back, to come back soon rather than after its whole lease.
 */
async function readOverrides(
  d: Delivery,
  deps: ExecutorDeps,
  overrides: OverrideReader,
  message: TaskMessage,
  revokesSeen?: number,
): Promise<number | undefined> {
  const task = { id: message.headers.id, name: message.headers.task };
  try {
    return await overrides.refresh(task, revokesSeen);
  } catch (error) {
    await handBack(d, deps, task, error, 'reading revokes and rate limits from the result store (the message will come back)');
    return undefined;
  }
}

/** Why a task must not run: its id was revoked (§6 revoke) or its expiry time has passed (§8 expires). */
function revokedReason(deps: ExecutorDeps, headers: TaskMessage['headers']): 'revoked' | 'expired' | undefined {
  if (deps.isRevoked(headers.id)) return 'revoked';
  return headers.expires && parseCeleryTime(headers.expires) <= Date.now() ? 'expired' : undefined;
}

/** A revoked or expired task ends as REVOKED, acked, without running. */
async function discard(
  d: Delivery,
  deps: ExecutorDeps,
  call: ParsedCall,
  results: ResultWriter,
  reason: 'revoked' | 'expired',
): Promise<Fate> {
  const revoked = new TaskRevokedError(reason);
  const store = withChordException(deps, call, results, REVOKED, () => revoked);
  if (!(await settle(d, deps, call, true, store))) return 'store-failed';
  emit(deps, { type: 'revoked', ...refOf(call.message.headers), reason });
  return 'acked';
}

/**
 * A message that can never run (an unknown task, bad input): dead-lettered with the reason, after
 * its FAILURE is stored when the task is known, so a caller waiting in get() learns why instead of
 * waiting forever. Stored even when the message asks to ignore its result (ignore_result), as
 * Celery's worker stores an unknown task's whatever that header says. A result that cannot be
 * stored yet hands the message back. With the call decoded, the meta is a run's (its group, its
 * parent); otherwise only the id is known.
 */
async function refuse(d: Delivery, deps: ExecutorDeps, { reason, task, error }: Refusal, call?: ParsedCall): Promise<Fate> {
  if (task) {
    const failure = error ?? new MalformedMessage(reason);
    try {
      if (call) await new ResultWriter(deps.backend, call, false, null).exception(FAILURE, failure);
      else await deps.backend.store(task.id, celeryMeta(task.id, FAILURE, encodeException(failure).info, null));
    } catch (error) {
      await handBack(d, deps, task, error);
      return 'store-failed';
    }
  }
  return deadLetter(d, deps, reason, task && { id: task.id, task: task.name });
}

async function deadLetter(d: Delivery, deps: ExecutorDeps, reason: string, headers?: { id?: unknown; task?: unknown }): Promise<Fate> {
  const id = typeof headers?.id === 'string' ? headers.id : undefined;
  const name = typeof headers?.task === 'string' ? headers.task : undefined;
  await d.deadLetter(reason);
  emit(deps, { type: 'rejected', id, name, reason });
  return 'dead-lettered';
}

function writerFor(task: RunnableTask, call: ParsedCall, deps: ExecutorDeps): ResultWriter {
  const taskIgnores = task.options.ignoreResult ?? deps.settings.ignoreResult;
  const ignore = call.message.headers.ignore_result === true || taskIgnores;
  return new ResultWriter(deps.backend, call, ignore, deps.settings.resultExtended ? { worker: deps.hostname } : null, taskIgnores);
}

/** The same task again: same id, retries+1, a new ETA; parent_id becomes its own id, as Celery sends it (§1.1, §8). */
function retryMessage(message: TaskMessage, countdownMs: number): TaskMessage {
  const retries = (Number(message.headers.retries) || 0) + 1;
  return {
    ...message,
    headers: { ...message.headers, retries, eta: celeryIso(Date.now() + countdownMs), parent_id: message.headers.id },
  };
}

/** The task a message is for, as events name it (the shadow only when its sender set one). */
function refOf(h: TaskHeaders): TaskRef {
  return h.shadow ? { id: h.id, name: h.task, shadow: h.shadow } : { id: h.id, name: h.task };
}

function emit(deps: Pick<ExecutorDeps, 'onEvent'>, event: ExecutorEvent): void {
  try {
    deps.onEvent?.(event);
  } catch {
    // A listener's bug must not change a message's fate.
  }
}
