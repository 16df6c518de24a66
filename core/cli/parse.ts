/** Option value parsers shared by the commands; a bad value becomes commander's usage error (exit 2). */
import { InvalidArgumentError } from 'commander';
import { parseCeleryTime } from '../message.js';
import { checkJson, unsafeIntegerError, unsafeIntegerLiteral } from '../serialization.js';

export function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('Expected a whole number of 1 or more.');
  return n;
}

export function wholeNumber(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isInteger(n) || n < 0) throw new InvalidArgumentError('Expected a whole number of 0 or more.');
  return n;
}

/** Seconds (may be fractional) → milliseconds. */
export function secondsToMs(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < 0)
    throw new InvalidArgumentError('Expected a number of seconds, such as 10 or 0.5.');
  return Math.round(n * 1000);
}

export function seconds(value: string): number {
  return secondsToMs(value) / 1000;
}

/** A time read as a worker reads the eta header it becomes: ISO 8601, no offset meaning UTC (as in Celery). */
export function isoDate(value: string): Date {
  const t = parseCeleryTime(value);
  if (Number.isNaN(t))
    throw new InvalidArgumentError(`Expected an ISO 8601 date-time such as 2030-01-01T12:00:00Z (no offset means UTC); got '${value}'.`);
  return new Date(t);
}

/** A name or URL (-A, -b, --queue...): an empty one would be taken as not given, or fail only once sent. */
export function nonEmpty(value: string): string {
  if (value.trim() === '') throw new InvalidArgumentError('Expected a value; got an empty string.');
  return value;
}

/** 'a,b, c' → ['a', 'b', 'c']. */
export function commaList(value: string): string[] {
  const items = value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (!items.length) throw new InvalidArgumentError('Expected a comma-separated list, such as celery,math.');
  return items;
}

export function jsonArray(value: string): unknown[] {
  const parsed = parseJson(value, 'the arguments', 'args');
  if (!Array.isArray(parsed))
    throw new InvalidArgumentError(`Positional arguments must be a JSON array, such as '[4, 4]'; got ${describe(parsed)}.`);
  return parsed;
}

export function jsonObject(value: string): Record<string, unknown> {
  const parsed = parseJson(value, 'the keyword arguments', 'kwargs');
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new InvalidArgumentError(`Keyword arguments must be a JSON object, such as '{"x": 1}'; got ${describe(parsed)}.`);
  }
  return parsed as Record<string, unknown>;
}

/**
 * JSON text as a task would receive it: an integer JSON.parse would round (beyond 2^53) is refused,
 * as a worker refuses it, and so is a number JSON.parse reads as Infinity (1e400), which cannot be sent.
 */
function parseJson(value: string, what: string, path: string): unknown {
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch (err) {
    throw new InvalidArgumentError(`Not valid JSON (${(err as Error).message}). Quote it for the shell, e.g. '[4, 4]'.`);
  }
  const unsafe = unsafeIntegerLiteral(value);
  if (unsafe !== undefined) throw new InvalidArgumentError(unsafeIntegerError(what, unsafe, `send it as a string ("${unsafe}")`).message);
  try {
    checkJson(parsed, path);
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message);
  }
  return parsed;
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  const type = Array.isArray(value) ? 'array' : typeof value;
  return `${/^[aeiou]/.test(type) ? 'an' : 'a'} ${type}`;
}
