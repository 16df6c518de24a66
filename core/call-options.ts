/**
 * Options of one call (applyAsync, sendTask, applyMany) and the check they pass before a message
 * is built: plain JavaScript callers get no compile-time check, and a wrong value must be an
 * error at the call, not a message that a worker dead-letters (a negative time limit, a numeric
 * task id, kwargs given as an array) or an option silently ignored (a misspelled 'countdown').
 */
import * as check from './config/checks.js';
import { ConfigError } from './errors.js';

export interface CallOptions {
  /** Seconds from now before the task may run. */
  countdown?: number;
  /** Earliest time the task may run (wins over countdown). */
  eta?: Date;
  /** Seconds from now, or an absolute time, after which the task is REVOKED instead of run. */
  expires?: number | Date;
  queue?: string;
  /** 0-9. */
  priority?: number;
  taskId?: string;
  ignoreResult?: boolean;
  /** Extra message headers. */
  headers?: Record<string, unknown>;
  timeLimit?: number;
  softTimeLimit?: number;
}

/** Seconds from now whose time a Date (and so an ISO-8601 header) can hold. */
export const secondsFromNow = check.number((n) => Number.isFinite(new Date(Date.now() + n * 1000).getTime()), 'expected seconds from now');
export const validDate = check.is((v) => v instanceof Date && !Number.isNaN(v.getTime()), 'expected a valid Date');
const limit = check.number((n) => n > 0, 'expected seconds > 0');

/** Protocol headers the message builder sets (§1.1): given as extra headers they would bypass the checks above, or break the message. */
const OWN_HEADERS = new Set([
  'id',
  'task',
  'eta',
  'expires',
  'retries',
  'timelimit',
  'ignore_result',
  'lang',
  'argsrepr',
  'kwargsrepr',
  'origin',
]);

const optionChecks: { [K in keyof CallOptions]-?: check.Check } = {
  countdown: secondsFromNow,
  eta: validDate,
  expires: check.either([secondsFromNow, validDate], 'expected seconds from now or a valid Date'),
  queue: check.string('expected a queue name'),
  priority: check.integer((n) => n >= 0 && n <= 9, 'expected an integer priority 0-9'),
  taskId: check.string('expected a task id (a non-empty string)'),
  ignoreResult: check.boolean(),
  headers: check.is(
    (v) => check.isPlainObject(v) && !Object.keys(v).some((key) => OWN_HEADERS.has(key)),
    `expected an object of extra message headers, none of ${[...OWN_HEADERS].join(', ')} (celeriac sets those: use the taskId, eta, expires, timeLimit or ignoreResult options)`,
  ),
  timeLimit: limit,
  softTimeLimit: limit,
};

const show = check.showValue;

/** Throws a ConfigError naming the call and what is wrong with its task name, args, kwargs or options. */
export function checkCall(name: unknown, args: unknown, kwargs: unknown, options: unknown): void {
  if (typeof name !== 'string' || name === '') {
    throw new ConfigError(`sending a task: its name must be a non-empty string such as 'tasks.add', got ${show(name)}`);
  }
  const where = `sending ${name}`;
  checkArgs(where, args);
  if (kwargs !== undefined && kwargs !== null && !check.isPlainObject(kwargs)) {
    throw new ConfigError(`${where}: kwargs must be an object of keyword arguments, got ${show(kwargs)}`);
  }
  checkCallOptions(where, options);
}

export function checkArgs(where: string, args: unknown): void {
  if (args !== undefined && args !== null && !Array.isArray(args)) {
    throw new ConfigError(`${where}: args must be an array of positional arguments, got ${show(args)} (one argument: [${show(args)}])`);
  }
}

export function checkCallOptions(where: string, options: unknown): void {
  if (options !== undefined && options !== null)
    check.checkOptions(where, options, optionChecks, { kind: 'a call option', example: '{ countdown: 10 }' });
}

const signatureChecks = { countdown: optionChecks.countdown, queue: optionChecks.queue, priority: optionChecks.priority };

/** The options a canvas signature carries (core/canvas.ts): a subset of a call's. */
export function checkSignatureOptions(where: string, options: unknown): void {
  if (options !== undefined && options !== null)
    check.checkOptions(where, options, signatureChecks, { kind: 'a signature option', example: "{ queue: 'math' }" });
}
