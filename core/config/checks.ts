/**
 * Value checks for settings and task options: each returns what is wrong with a value, as a
 * message for the user, or null when it is fine. Plain functions rather than a schema library:
 * every app (and every Lambda cold start) validates its settings, and these few lines do it
 * with the messages we want, where a schema library (zod) cost ~100 KB of bundle and its import time.
 */
import { ConfigError } from '../errors.js';
import { didYouMean } from './closest.js';

export type Check = (value: unknown) => string | null;

/** Any value for which `ok` holds. */
export const is =
  (ok: (v: unknown) => boolean, message: string): Check =>
  (v) =>
    ok(v) ? null : message;

const isNumber = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

/** A finite number (NaN and Infinity refused) for which `ok` holds. */
export const number =
  (ok: (n: number) => boolean, message: string): Check =>
  (v) =>
    isNumber(v) && ok(v) ? null : message;

/** A whole number for which `ok` holds. */
export const integer =
  (ok: (n: number) => boolean, message: string): Check =>
  (v) =>
    Number.isSafeInteger(v) && ok(v as number) ? null : message;

export const boolean =
  (message = 'expected true or false'): Check =>
  (v) =>
    typeof v === 'boolean' ? null : message;

/** A string, non-empty, for which `ok` (when given) holds. */
export const string =
  (message: string, ok: (s: string) => boolean = () => true): Check =>
  (v) =>
    typeof v === 'string' && v.length > 0 && ok(v) ? null : message;

export const nullable =
  (check: Check): Check =>
  (v) =>
    v === null ? null : check(v);

/** The first of `checks` that passes, or `message`. */
export const either =
  (checks: Check[], message: string): Check =>
  (v) =>
    checks.some((check) => check(v) === null) ? null : message;

/** A plain object (not an array, a Date, a class instance...), or a module's namespace (a config module). */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null || Object.prototype.toString.call(value) === '[object Module]';
}

/** A value as an error message shows it: JSON where that is faithful (not for NaN, Infinity, a BigInt or an invalid Date). */
export function showValue(v: unknown): string {
  if (typeof v === 'number') return String(v);
  if (typeof v === 'bigint') return `${v}n`;
  if (v instanceof Date) return Number.isNaN(v.getTime()) ? 'Invalid Date' : `Date(${v.toISOString()})`;
  try {
    return JSON.stringify(v) ?? String(v);
  } catch {
    // A cycle or a BigInt inside: the error being reported matters more than the value's full form.
    return String(v);
  }
}

/**
 * Checks an object of options (a call's, a worker's...) against one check per known key: an
 * unknown key is an error naming the closest known one, a failing value one saying what was
 * expected. An undefined value stands for an absent option. Errors start with `where`.
 */
export function checkOptions(
  where: string,
  options: unknown,
  checks: Readonly<Record<string, Check>>,
  describe: { kind: string; example: string },
): void {
  const { kind, example } = describe;
  if (!isPlainObject(options)) throw new ConfigError(`${where}: options must be an object such as ${example}, got ${showValue(options)}`);
  for (const [name, value] of Object.entries(options)) {
    const check = Object.hasOwn(checks, name) ? checks[name] : undefined;
    if (!check) {
      throw new ConfigError(
        `${where}: '${name}' is not ${kind}.${didYouMean(name, Object.keys(checks))} Options: ${Object.keys(checks).join(', ')}.`,
      );
    }
    const problem = value === undefined ? null : check(value);
    if (problem !== null) throw new ConfigError(`${where}: ${name}: ${problem} (got ${showValue(value)})`);
  }
}

/** An SQS FIFO message group (the messageGroup task and call option): 1–128 printable ASCII characters, no spaces. */
export const messageGroup = is(
  (v) => typeof v === 'string' && /^[!-~]{1,128}$/.test(v),
  'expected a FIFO message group: 1-128 printable ASCII characters, no spaces',
);
