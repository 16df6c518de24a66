/**
 * Options of one call (applyAsync, sendTask, applyMany) and the check they pass before a message
 * is built: plain JavaScript callers get no compile-time check, and a wrong value must be an
 * error at the call, not a message that a worker dead-letters (a negative time limit, a numeric
 * task id, kwargs given as an array) or an option silently ignored (a misspelled 'countdown').
 */
import * as check from './config/checks.js';
import { ConfigError } from './errors.js';
import { checkJson } from './serialization.js';

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
  /** SQS FIFO queues: the message group of this call, over the task's (TaskOptions.messageGroup). */
  messageGroup?: string;
}

/** Seconds from now whose time a Date (and so an ISO-8601 header) can hold. */
export const secondsFromNow = check.number((n) => Number.isFinite(new Date(Date.now() + n * 1000).getTime()), 'expected seconds from now');
export const validDate = check.is((v) => v instanceof Date && !Number.isNaN(v.getTime()), 'expected a valid Date');
const limit = check.number((n) => n > 0, 'expected seconds > 0');

const SET_HERE = 'celeriac sets this header itself';

/**
 * Protocol headers (§1.1) a caller may not give as extra headers, and why: the message builder
 * writes them, from options that check their values, or (compression) nothing could read the body.
 */
const OWN_HEADERS: Readonly<Record<string, string>> = {
  id: `${SET_HERE}: use the taskId option`,
  task: `${SET_HERE}: it is the name of the task sent`,
  eta: `${SET_HERE}: use the eta or countdown option`,
  expires: `${SET_HERE}: use the expires option`,
  retries: SET_HERE,
  timelimit: `${SET_HERE}: use the timeLimit and softTimeLimit options`,
  ignore_result: `${SET_HERE}: use the ignoreResult option`,
  lang: SET_HERE,
  argsrepr: SET_HERE,
  kwargsrepr: SET_HERE,
  origin: SET_HERE,
  compression: 'celeriac sends the body uncompressed, so a worker could not read it',
};

/** Protocol headers a caller may set (Celery's send_task has options for them), checked as a worker reads them (§1.1). */
const HEADER_CHECKS: Readonly<Record<string, check.Check>> = {
  shadow: check.nullable(check.string('expected a name to show for the task (a string) or null')),
  group: check.nullable(check.string('expected a group id (a string) or null')),
  group_index: check.nullable(check.integer((n) => n >= 0, 'expected a position in the group (an integer >= 0) or null')),
  root_id: check.nullable(check.string('expected a task id (a non-empty string) or null')),
  parent_id: check.nullable(check.string('expected a task id (a non-empty string) or null')),
};

const optionChecks: { [K in keyof CallOptions]-?: check.Check } = {
  countdown: secondsFromNow,
  eta: validDate,
  expires: check.either([secondsFromNow, validDate], 'expected seconds from now or a valid Date'),
  queue: check.string('expected a queue name'),
  priority: check.integer((n) => n >= 0 && n <= 9, 'expected an integer priority 0-9'),
  taskId: check.string('expected a task id (a non-empty string)'),
  ignoreResult: check.boolean(),
  // Each header is checked by checkHeaders.
  headers: check.is(check.isPlainObject, 'expected an object of extra message headers'),
  timeLimit: limit,
  softTimeLimit: limit,
  messageGroup: check.messageGroup,
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
  if (options === undefined || options === null) return;
  check.checkOptions(where, options, optionChecks, { kind: 'a call option', example: '{ countdown: 10 }' });
  const { headers } = options as CallOptions;
  if (headers !== undefined) checkHeaders(where, headers);
}

/** Refuses a header celeriac sets, a wrong-typed protocol header, and (SerializationError) any value JSON would not carry exactly. */
function checkHeaders(where: string, headers: Record<string, unknown>): void {
  for (const [key, value] of Object.entries(headers)) {
    // Refused even when undefined: the builder's spread would overwrite the header it sets.
    const refused = Object.hasOwn(OWN_HEADERS, key) ? OWN_HEADERS[key] : undefined;
    const problem = refused ?? (value !== undefined && Object.hasOwn(HEADER_CHECKS, key) ? HEADER_CHECKS[key]?.(value) : null);
    if (problem) throw new ConfigError(`${where}: headers.${key}: ${problem} (got ${show(value)})`);
  }
  checkJson(headers, 'headers');
}

const signatureChecks = { countdown: optionChecks.countdown, queue: optionChecks.queue, priority: optionChecks.priority };

/** The options a canvas signature carries (core/canvas.ts): a subset of a call's. */
export function checkSignatureOptions(where: string, options: unknown): void {
  if (options !== undefined && options !== null)
    check.checkOptions(where, options, signatureChecks, { kind: 'a signature option', example: "{ queue: 'math' }" });
}
