/**
 * Every error celeriac raises, in one place. Messages say what was wrong and how to fix it.
 * `name` values that Celery also uses (TimeLimitExceeded, NotRegistered, ...) keep Celery's
 * spelling so results read the same from Python.
 */

export class CeleriacError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** A setting, an option or a URL is invalid. */
export class ConfigError extends CeleriacError {}

/** A value cannot be carried faithfully by the serializer (send time). */
export class SerializationError extends CeleriacError {}

/** A rate string such as '10/m' could not be parsed. */
export class RateLimitError extends ConfigError {}

/** The task a message is for, as its headers name it. */
export interface TaskOfMessage {
  id: string;
  name: string;
}

/** A message could not be decoded (bad envelope, bad JSON, wrong shape). */
export class MalformedMessage extends CeleriacError {
  /** The task it was for, when its headers could be read. */
  task?: TaskOfMessage;
}

/** The message's content type is not in accept_content. */
export class ContentDisallowed extends CeleriacError {}

/** No task is registered under the message's name. */
export class NotRegistered extends CeleriacError {
  constructor(readonly taskName: string) {
    super(
      `Task '${taskName}' is not registered on this worker. Import the module that defines it in the app passed with -A, or check the task name for typos.`,
    );
  }
}

/** The task ran past its hard time limit; its slot was freed and FAILURE stored. */
export class TimeLimitExceeded extends CeleriacError {
  constructor(readonly seconds: number) {
    super(`Task exceeded its hard time limit of ${seconds}s`);
  }
}

/** Given to the task's AbortSignal as the reason when the soft time limit passes. */
export class SoftTimeLimitExceeded extends CeleriacError {
  constructor(readonly seconds: number) {
    super(`Task exceeded its soft time limit of ${seconds}s`);
  }
}

/** The task was revoked or had expired before it ran. */
export class TaskRevokedError extends CeleriacError {}

/** retry() was called more often than max_retries allows, without an error of its own. */
export class MaxRetriesExceededError extends CeleriacError {}

/** Thrown by ctx.retry(): tells the executor to schedule the task again. Not a failure. */
export class Retry extends CeleriacError {
  constructor(
    readonly countdownMs: number,
    readonly exc?: unknown,
    readonly when?: Date,
  ) {
    super(`Retry in ${Math.round(countdownMs / 1000)}s${exc instanceof Error ? `: ${exc.name}(${JSON.stringify(exc.message)})` : ''}`);
  }
}

/** The broker or result store cannot be reached (kombu's name for it). */
export class OperationalError extends CeleriacError {}

/**
 * A value is larger than the result store can hold (DynamoDB: 400 KB per item). Not transient:
 * the executor stores it as the task's FAILURE instead of handing the message back to run again.
 */
export class ResultTooLarge extends CeleriacError {}

/** A message is bigger than its broker or queue accepts (and no claim check is configured). */
export class MessageTooLarge extends CeleriacError {}

/**
 * Whether a send failed for good (the message itself is refused: too large, not JSON, badly
 * configured) rather than for the moment (the broker unreachable): sending it again cannot help.
 */
export const refusedForGood = (err: unknown): boolean =>
  err instanceof MessageTooLarge || err instanceof SerializationError || err instanceof ConfigError;

/**
 * Whether a result store refused a meta for good (too large for it, or not writable as JSON: a
 * value nested too deeply) rather than for the moment (the store unreachable): storing it again cannot help.
 */
export const unstorable = (err: unknown): boolean => err instanceof ResultTooLarge || err instanceof SerializationError;

/** A chord's body cannot run: a header task failed, or the body could not be sent (Celery's name, module celery.exceptions). */
export class ChordError extends CeleriacError {}

/** AsyncResult.get() waited longer than its timeout. */
export class TimeoutError extends CeleriacError {
  /** Set by a backend's waitFor: false when not one read of the result store answered while it waited. */
  storeAnswered?: boolean;
}

/** The app was closed (app.close()): a get() still waiting, or a send or a read asked for after it. */
export class AppClosedError extends CeleriacError {}

/** No provider is registered for a URL scheme, or its package is missing. */
export class ProviderError extends ConfigError {}

/** What a failure read back from a result backend carries besides its message (Celery's exception meta). */
interface RemoteFields {
  module?: string;
  args?: unknown[];
  traceback?: string | null;
  taskId?: string;
}

/** Every RemoteTaskError, and every celeriac error rebuilt from a stored failure (RemoteTaskError.carry). */
const remoteFailures = new WeakSet<object>();

/**
 * A task's failure as read back from the result backend. `name` is the remote error type
 * (e.g. 'ValueError', 'TypeError'); `remoteTraceback` is the worker's stack. A failure of a type
 * celeriac exports (TimeLimitExceeded, NotRegistered, TaskRevokedError...) comes back as an
 * instance of that class, as Celery raises its own, and is a RemoteTaskError too, with these fields.
 */
export class RemoteTaskError extends Error {
  declare readonly excType: string;
  declare readonly excModule: string;
  declare readonly excArgs: unknown[];
  declare readonly remoteTraceback: string | null;
  declare readonly taskId: string | undefined;

  static override [Symbol.hasInstance](value: unknown): value is RemoteTaskError {
    // A subclass (which inherits this method) answers by its prototype, as instanceof normally does.
    if (this !== RemoteTaskError) return Function.prototype[Symbol.hasInstance].call(this, value);
    return typeof value === 'object' && value !== null && remoteFailures.has(value);
  }

  constructor(excType: string, message: string, opts: RemoteFields = {}) {
    super(message);
    this.name = excType;
    RemoteTaskError.carry(this, opts);
  }

  /** Gives an error rebuilt from a stored failure what a RemoteTaskError carries: its type (the error's name), meta, traceback and task id. */
  static carry<E extends Error>(error: E, opts: RemoteFields): E & RemoteTaskError {
    Object.assign(error, {
      excType: error.name,
      excModule: opts.module ?? '',
      excArgs: opts.args ?? [error.message],
      remoteTraceback: opts.traceback ?? null,
      taskId: opts.taskId,
    });
    if (opts.traceback) error.stack = `${error.name}: ${error.message}\n  [remote traceback]\n${opts.traceback}`;
    remoteFailures.add(error);
    return error as E & RemoteTaskError;
  }
}
