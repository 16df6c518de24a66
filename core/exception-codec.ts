/**
 * Errors to and from Celery's exception meta (celery-protocol.md §4.1): `{exc_type, exc_message,
 * exc_module}` plus a traceback. The names Celery itself uses keep Celery's module so a Python
 * client rebuilds the same exception class.
 */
import {
  MaxRetriesExceededError,
  NotRegistered,
  RemoteTaskError,
  SoftTimeLimitExceeded,
  TaskRevokedError,
  TimeLimitExceeded,
} from './errors.js';
import type { ExceptionInfo, ResultMeta } from './result-meta.js';

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

export function encodeException(err: unknown): EncodedException {
  if (err instanceof RemoteTaskError) {
    return { info: { exc_type: err.excType, exc_message: err.excArgs, exc_module: err.excModule }, traceback: err.remoteTraceback };
  }
  if (err instanceof NotRegistered) {
    // Celery stores NotRegistered with the task name as its only argument and no traceback.
    return { info: { exc_type: 'NotRegistered', exc_message: [err.taskName], exc_module: 'celery.exceptions' }, traceback: null };
  }
  if (err instanceof TimeLimitExceeded) {
    return {
      info: { exc_type: 'TimeLimitExceeded', exc_message: [err.seconds], exc_module: 'billiard.exceptions' },
      traceback: err.stack ?? null,
    };
  }
  if (err instanceof SoftTimeLimitExceeded) {
    return {
      info: { exc_type: 'SoftTimeLimitExceeded', exc_message: [err.seconds], exc_module: 'billiard.exceptions' },
      traceback: err.stack ?? null,
    };
  }
  if (err instanceof TaskRevokedError || err instanceof MaxRetriesExceededError) {
    return { info: { exc_type: err.name, exc_message: [err.message], exc_module: 'celery.exceptions' }, traceback: err.stack ?? null };
  }
  if (err instanceof Error) {
    const module = JS_BUILTINS.has(err.name) ? 'builtins' : 'celeriac';
    return { info: { exc_type: err.name, exc_message: [err.message], exc_module: module }, traceback: err.stack ?? null };
  }
  return { info: { exc_type: 'Error', exc_message: [String(err)], exc_module: 'builtins' }, traceback: null };
}

/** Rebuild a stored failure as an error whose `name` is the remote type. */
export function decodeException(meta: Pick<ResultMeta, 'result' | 'traceback' | 'task_id'>): RemoteTaskError {
  const info = asExceptionInfo(meta.result);
  if (!info) {
    return new RemoteTaskError('Error', `task failed with an unreadable error: ${JSON.stringify(meta.result)}`, {
      traceback: meta.traceback,
      taskId: meta.task_id,
    });
  }
  const args = Array.isArray(info.exc_message) ? info.exc_message : [info.exc_message];
  return new RemoteTaskError(info.exc_type, messageFor(info.exc_type, args), {
    module: info.exc_module,
    args,
    traceback: meta.traceback,
    taskId: meta.task_id,
  });
}

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
  if (type === 'NotRegistered' && typeof first === 'string') return new NotRegistered(first).message;
  if (type === 'TimeLimitExceeded' && typeof first === 'number') return new TimeLimitExceeded(first).message;
  if (type === 'TaskRevokedError' && typeof first === 'string') return `Task ${first}`;
  return args.length === 1 && typeof first === 'string'
    ? first
    : args.map((a) => (typeof a === 'string' ? a : JSON.stringify(a))).join(', ');
}
