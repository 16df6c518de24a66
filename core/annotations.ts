/**
 * Celery's task_annotations (celery/app/annotations.py): change task options from the config
 * without touching task code — per task name, or for every task with '*'. Celery's snake_case
 * attribute names are mapped to TaskOptions; an unknown one is an error, never ignored.
 */
import * as check from './config/checks.js';
import { didYouMean } from './config/closest.js';
import { ConfigError } from './errors.js';
import { parseRate } from './rate-limit.js';
import type { TaskOptions } from './task-options.js';

/** Option values keyed by Celery's snake_case names (rate_limit) or TaskOptions' (rateLimit). */
export type AnnotationValues = Readonly<Record<string, unknown>>;

/** Task name or '*' → options. */
export type AnnotationMap = Readonly<Record<string, AnnotationValues>>;

/** Celery's annotation object reduced to a function: options for this task, or none. */
export type AnnotationFunction = (taskName: string) => AnnotationValues | undefined | null;

export type TaskAnnotations = AnnotationMap | AnnotationFunction | readonly (AnnotationMap | AnnotationFunction)[];

const SNAKE_NAMES: Readonly<Record<string, keyof TaskOptions>> = {
  queue: 'queue',
  rate_limit: 'rateLimit',
  max_retries: 'maxRetries',
  default_retry_delay: 'defaultRetryDelay',
  autoretry_for: 'autoretryFor',
  retry_backoff: 'retryBackoff',
  retry_backoff_max: 'retryBackoffMax',
  retry_jitter: 'retryJitter',
  time_limit: 'timeLimit',
  soft_time_limit: 'softTimeLimit',
  ignore_result: 'ignoreResult',
  track_started: 'trackStarted',
  acks_late: 'acksLate',
  expires: 'expires',
  priority: 'priority',
  message_group: 'messageGroup',
};

const seconds = check.number((n) => n > 0, 'expected seconds > 0');
const delay = check.number((n) => n >= 0, 'expected seconds >= 0');
const bool = check.boolean();
const isFunction = (v: unknown): boolean => typeof v === 'function';

const optionChecks: { [K in keyof TaskOptions]-?: check.Check } = {
  queue: check.string('expected a queue name'),
  rateLimit: (value) => {
    try {
      parseRate(value as string | number | null);
      return null;
    } catch (err) {
      return (err as Error).message;
    }
  },
  maxRetries: check.nullable(check.integer((n) => n >= 0, 'expected a whole number >= 0, or null for no limit')),
  defaultRetryDelay: delay,
  autoretryFor: check.is(
    (v) => isFunction(v) || (Array.isArray(v) && v.every(isFunction)),
    'expected a list of error classes or a predicate function',
  ),
  retryBackoff: check.either([bool, seconds], 'expected true/false or a backoff factor in seconds'),
  retryBackoffMax: delay,
  retryJitter: bool,
  timeLimit: seconds,
  softTimeLimit: seconds,
  ignoreResult: bool,
  trackStarted: bool,
  acksLate: bool,
  expires: check.either([seconds, check.is((v) => v instanceof Date, 'a Date')], 'expected seconds > 0 or a Date'),
  priority: check.integer((n) => n >= 0 && n <= 9, 'expected an integer priority 0-9'),
  messageGroup: check.messageGroup,
};

const ACCEPTED_NAMES = [...Object.keys(SNAKE_NAMES), ...Object.keys(optionChecks)];

/**
 * Validates option values given with Celery's snake_case or TaskOptions' camelCase names and
 * returns them as TaskOptions. `where` names the source in errors ("task_annotations['*']").
 */
export function normalizeTaskOptions(values: AnnotationValues, where: string): Partial<TaskOptions> {
  if (typeof values !== 'object' || values === null || Array.isArray(values)) {
    throw new ConfigError(`${where} must be an object of task options such as { rate_limit: '10/s' }`);
  }
  const out: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(values)) {
    if (value === undefined) continue; // as an absent option ({ queue: maybeQueue })
    const key = SNAKE_NAMES[name] ?? (Object.hasOwn(optionChecks, name) ? (name as keyof TaskOptions) : undefined);
    if (key === undefined) {
      throw new ConfigError(
        `${where}: '${name}' is not a task option.${didYouMean(name, ACCEPTED_NAMES)} Options: ${Object.keys(SNAKE_NAMES).join(', ')}.`,
      );
    }
    const problem = optionChecks[key](value);
    if (problem !== null) throw new ConfigError(`${where}: ${name}: ${problem} (got ${check.showValue(value)})`);
    out[key] = value;
  }
  return out as Partial<TaskOptions>;
}

function asList(annotations: TaskAnnotations): readonly (AnnotationMap | AnnotationFunction)[] {
  return Array.isArray(annotations) ? annotations : [annotations as AnnotationMap | AnnotationFunction];
}

/** Why a task_annotations value is unusable, or null (used by the settings schema). */
export function checkAnnotations(value: unknown): string | null {
  for (const [i, entry] of asList(value as TaskAnnotations).entries()) {
    const where = Array.isArray(value) ? `task_annotations[${i}]` : 'task_annotations';
    if (typeof entry === 'function') continue;
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) {
      return `${where} must be { 'task.name' | '*': { option: value } }, a function (taskName) => options, or a list of those`;
    }
    try {
      for (const [name, values] of Object.entries(entry)) normalizeTaskOptions(values, `${where}['${name}']`);
    } catch (err) {
      return (err as Error).message;
    }
  }
  return null;
}

/**
 * The options task_annotations sets for one task: the first entry that names the task, then
 * the first entry with '*' over it, as Celery 5.2 applies them (celery/app/annotations.py
 * resolve_all yields the per-task match, then the '*' match; Task.annotate sets each in turn,
 * so '*' wins where both set an option).
 */
export function annotationsFor(taskName: string, conf: { task_annotations: TaskAnnotations | null }): Partial<TaskOptions> {
  if (conf.task_annotations === null) return {};
  let specific: Partial<TaskOptions> | undefined;
  let any: Partial<TaskOptions> | undefined;
  for (const [i, entry] of asList(conf.task_annotations).entries()) {
    if (typeof entry === 'function') {
      const values = specific === undefined ? entry(taskName) : undefined;
      if (values !== undefined && values !== null)
        specific = normalizeTaskOptions(values, `task_annotations function (entry ${i}) for '${taskName}'`);
      continue;
    }
    const own = specific === undefined && Object.hasOwn(entry, taskName) && taskName !== '*' ? entry[taskName] : undefined;
    if (own !== undefined) specific = normalizeTaskOptions(own, `task_annotations['${taskName}']`);
    const star = any === undefined && Object.hasOwn(entry, '*') ? entry['*'] : undefined;
    if (star !== undefined) any = normalizeTaskOptions(star, "task_annotations['*']");
  }
  return { ...specific, ...any };
}
