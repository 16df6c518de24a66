/**
 * Errors to and from Celery's exception meta (celery-protocol.md §4.1): `{exc_type, exc_message,
 * exc_module}` plus a traceback. The names Celery itself uses keep Celery's module so a Python
 * client rebuilds the same exception class.
 */
import {
  type CeleriacError,
  ChordError,
  ContentDisallowed,
  MalformedMessage,
  MaxRetriesExceededError,
  MessageTooLarge,
  NotRegistered,
  OperationalError,
  RemoteTaskError,
  ResultTooLarge,
  SoftTimeLimitExceeded,
  TaskRevokedError,
  TimeLimitExceeded,
} from './errors.js';
import type { ExceptionInfo, ResultMeta } from './result-meta.js';
import { checkJson } from './serialization.js';

const JS_BUILTINS = new Set([
  'Error',
  'TypeError',
  'RangeError',
  'SyntaxError',
  'ReferenceError',
  'EvalError',
  'URIError',
  'AggregateError',
]);

export interface EncodedException {
  info: ExceptionInfo;
  traceback: string | null;
}

/**
 * Never throws, and gives JSON-safe fields whatever was thrown (a null-prototype object, a
 * message getter that throws, a name that is not a string): an error that cannot be encoded
 * would leave its task unsettled, to come back and fail the same way forever.
 */
export function encodeException(err: unknown): EncodedException {
  try {
    const { info, traceback } = encodeKnown(err);
    return {
      info: {
        exc_type: textOr(info.exc_type, 'Error'),
        exc_message: (Array.isArray(info.exc_message) ? info.exc_message : [info.exc_message]).map(jsonSafe),
        exc_module: textOr(info.exc_module, 'builtins'),
      },
      traceback: typeof traceback === 'string' ? traceback : null,
    };
  } catch (failure) {
    return {
      info: {
        exc_type: 'Error',
        exc_message: [`the task failed with an error that could not be read (${describeUnreadable(failure)})`],
        exc_module: 'builtins',
      },
      traceback: null,
    };
  }
}

function encodeKnown(err: unknown): EncodedException {
  if (err instanceof RemoteTaskError) {
    return { info: { exc_type: err.excType, exc_message: err.excArgs, exc_module: err.excModule }, traceback: err.remoteTraceback };
  }
  if (err instanceof NotRegistered) {
    // Celery stores NotRegistered with the task name as its only argument and no traceback.
    return { info: { exc_type: 'NotRegistered', exc_message: [err.taskName], exc_module: 'celery.exceptions' }, traceback: null };
  }
  // A hard time limit and a revoke stop a task from outside it: Celery stores no traceback for them.
  if (err instanceof TimeLimitExceeded) {
    return { info: { exc_type: 'TimeLimitExceeded', exc_message: [err.seconds], exc_module: 'billiard.exceptions' }, traceback: null };
  }
  if (err instanceof TaskRevokedError) {
    return { info: { exc_type: err.name, exc_message: [err.message], exc_module: 'celery.exceptions' }, traceback: null };
  }
  if (err instanceof SoftTimeLimitExceeded) {
    return {
      info: { exc_type: 'SoftTimeLimitExceeded', exc_message: [err.seconds], exc_module: 'billiard.exceptions' },
      traceback: err.stack ?? null,
    };
  }
  if (err instanceof MaxRetriesExceededError || err instanceof ChordError) {
    return { info: { exc_type: err.name, exc_message: [err.message], exc_module: 'celery.exceptions' }, traceback: err.stack ?? null };
  }
  if (err instanceof ContentDisallowed) {
    return { info: { exc_type: 'ContentDisallowed', exc_message: [err.message], exc_module: 'kombu.exceptions' }, traceback: null };
  }
  if (err instanceof Error) {
    const module = JS_BUILTINS.has(err.name) ? 'builtins' : 'celeriac';
    return { info: { exc_type: err.name, exc_message: [err.message], exc_module: module }, traceback: err.stack ?? null };
  }
  // Not an Error (throw 'text', throw { code: 42 }): the value itself, as text.
  return {
    info: { exc_type: 'Error', exc_message: [typeof err === 'string' ? err : showThrown(err)], exc_module: 'builtins' },
    traceback: null,
  };
}

const textOr = (v: unknown, fallback: string): string => (typeof v === 'string' && v !== '' ? v : fallback);

/** An exception argument as JSON can carry it: JSON data stays as it is (a Python error's dict), anything else becomes text. */
function jsonSafe(v: unknown): unknown {
  try {
    checkJson(v, 'argument');
    return v;
  } catch {
    return showThrown(v);
  }
}

function showThrown(v: unknown): string {
  try {
    const json = JSON.stringify(v);
    if (json !== undefined && json !== '{}') return json;
  } catch {
    // a cycle, a BigInt: fall back to the text form
  }
  try {
    return String(v);
  } catch {
    return Object.prototype.toString.call(v);
  }
}

function describeUnreadable(failure: unknown): string {
  try {
    return failure instanceof Error ? `${failure.name}: ${failure.message}` : String(failure);
  } catch {
    return 'unknown reason';
  }
}

/**
 * Rebuild a stored failure as an error whose `name` is the remote type: an instance of the
 * celeriac class of that name when there is one (see REBUILT), else a RemoteTaskError; both carry
 * the stored meta, traceback and task id.
 */
export function decodeException(meta: Pick<ResultMeta, 'result' | 'traceback' | 'task_id'>): RemoteTaskError {
  const info = asExceptionInfo(meta.result);
  if (!info) {
    return new RemoteTaskError('Error', `task failed with an unreadable error: ${JSON.stringify(meta.result)}`, {
      traceback: meta.traceback,
      taskId: meta.task_id,
    });
  }
  const args = Array.isArray(info.exc_message) ? info.exc_message : [info.exc_message];
  const message = messageFor(info.exc_type, args);
  const remote = { module: info.exc_module, args, traceback: meta.traceback, taskId: meta.task_id };
  const rebuilt = REBUILT.get(`${info.exc_module}.${info.exc_type}`)?.(args, message);
  return rebuilt ? RemoteTaskError.carry(rebuilt, remote) : new RemoteTaskError(info.exc_type, message, remote);
}

/** Builds a celeriac error from a stored failure's arguments, or gives undefined when they do not fit its constructor. */
type Rebuild = (args: unknown[], message: string) => CeleriacError | undefined;
const withMessage =
  (Class: new (message: string) => CeleriacError): Rebuild =>
  (_args, message) =>
    new Class(message);
const afterSeconds =
  (Class: new (seconds: number) => CeleriacError): Rebuild =>
  ([seconds]) =>
    typeof seconds === 'number' ? new Class(seconds) : undefined;

/**
 * The stored failures get() gives back as the celeriac class of the same name, as Celery's get()
 * raises its own classes: keyed by module and type as Celery stores them (celery-protocol.md §4.1;
 * celery.exceptions, billiard's time limits, kombu's), and the errors of celeriac's own that its
 * workers store (module 'celeriac', which a task's own error classes share: only these names).
 */
const REBUILT = new Map<string, Rebuild>([
  ['celery.exceptions.NotRegistered', ([name]) => (typeof name === 'string' ? new NotRegistered(name) : undefined)],
  ['celery.exceptions.TaskRevokedError', withMessage(TaskRevokedError)],
  ['celery.exceptions.MaxRetriesExceededError', withMessage(MaxRetriesExceededError)],
  ['celery.exceptions.ChordError', withMessage(ChordError)],
  ['billiard.exceptions.TimeLimitExceeded', afterSeconds(TimeLimitExceeded)],
  ['billiard.exceptions.SoftTimeLimitExceeded', afterSeconds(SoftTimeLimitExceeded)],
  ['kombu.exceptions.ContentDisallowed', withMessage(ContentDisallowed)],
  ['kombu.exceptions.OperationalError', withMessage(OperationalError)],
  ['celeriac.MalformedMessage', withMessage(MalformedMessage)],
  ['celeriac.ResultTooLarge', withMessage(ResultTooLarge)],
  ['celeriac.MessageTooLarge', withMessage(MessageTooLarge)],
]);

export function asExceptionInfo(value: unknown): ExceptionInfo | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const v = value as Partial<ExceptionInfo>;
  return typeof v.exc_type === 'string'
    ? { exc_type: v.exc_type, exc_message: v.exc_message ?? [], exc_module: v.exc_module ?? '' }
    : undefined;
}

/** Celery's own errors carry only their arguments on the wire; give them back their explanation. */
function messageFor(type: string, args: unknown[]): string {
  const first = args[0];
  if (type === 'TaskRevokedError' && typeof first === 'string') return `Task ${first}`;
  return args.length === 1 && typeof first === 'string'
    ? first
    : args.map((a) => (typeof a === 'string' ? a : JSON.stringify(a))).join(', ');
}
