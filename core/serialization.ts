/**
 * JSON as the task serializer (celery-protocol.md §1.4), made strict: a value JSON would
 * silently change (undefined in an array becomes null, a Map becomes {}, a class instance
 * loses its class, NaN becomes null) is refused at send time with the path to it.
 *
 * Date rule: a Date is sent as its ISO 8601 string in UTC ('2024-05-01T12:00:00.000Z') and
 * arrives as that string, not as a Date — what kombu's JSON encoder does for datetimes.
 */
import { SerializationError } from './errors.js';

const IDENTIFIER = /^[A-Za-z_$][\w$]*$/;

function childPath(path: string, key: string | number): string {
  if (typeof key === 'number') return `${path}[${key}]`;
  return IDENTIFIER.test(key) ? `${path}.${key}` : `${path}[${JSON.stringify(key)}]`;
}

function refuse(path: string, why: string): never {
  throw new SerializationError(`Cannot send ${path} as JSON: ${why}.`);
}

function kindOf(value: object): string {
  const name = Object.getPrototypeOf(value)?.constructor?.name;
  return typeof name === 'string' && name !== '' ? name : 'an object with a custom prototype';
}

// kombu's serializer names and the content types they stand for (§1.4).
const CONTENT_TYPES: Record<string, string> = {
  json: 'application/json',
  yaml: 'application/x-yaml',
  pickle: 'application/x-python-serialize',
  msgpack: 'application/x-msgpack',
};

/** The content type a serializer name ('json') or a content type ('Application/JSON; charset=utf-8') stands for. */
export function contentTypeOf(nameOrType: string): string {
  const v = (nameOrType.split(';')[0] ?? '').trim().toLowerCase();
  return CONTENT_TYPES[v] ?? v;
}

/** A copy of `value` holding only what JSON carries exactly, Dates turned into ISO strings. */
function plain(value: unknown, path: string, ancestors: Map<object, string>): unknown {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return value;
    case 'number':
      return Number.isFinite(value) ? value : refuse(path, `${value} has no JSON form; send null or a string instead`);
    case 'bigint':
      return refuse(path, `BigInt ${value}n has no JSON form; convert it to a string (or a number if it fits)`);
    case 'undefined':
      return refuse(path, 'undefined in an array would arrive as null; use null');
    case 'function':
      return refuse(path, `a function (${value.name || 'anonymous'}) cannot be sent; send data and look the function up in the task`);
    case 'symbol':
      return refuse(path, `${String(value)} cannot be sent`);
  }
  if (value === null) return null;
  const object = value as object;
  if (object instanceof Date) {
    if (Number.isNaN(object.getTime())) refuse(path, 'an invalid Date has no ISO form');
    return object.toISOString();
  }
  const seen = ancestors.get(object);
  if (seen !== undefined) refuse(path, `it refers back to ${seen} (a cycle)`);
  if (object instanceof Map) refuse(path, 'a Map would arrive as {}; convert it with Object.fromEntries(map)');
  if (object instanceof Set) refuse(path, 'a Set would arrive as {}; convert it with [...set]');
  const proto = Object.getPrototypeOf(object);
  if (!Array.isArray(object) && proto !== Object.prototype && proto !== null) {
    refuse(path, `${kindOf(object)} is a class instance and would arrive as a plain object without its class; send a plain object`);
  }
  ancestors.set(object, path);
  try {
    if (Array.isArray(object)) return object.map((item, i) => plain(item, childPath(path, i), ancestors));
    const out: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(object)) {
      // An undefined property is left out, as JSON.stringify does: absent and undefined read the same.
      if (item !== undefined) out[key] = plain(item, childPath(path, key), ancestors);
    }
    return out;
  } finally {
    ancestors.delete(object);
  }
}

/**
 * Serializes `value` or throws SerializationError naming the offending path, which starts with
 * `what` (e.g. 'args' → 'args[1].when'). A bare undefined (a task that returns nothing) is
 * sent as null, as Python's None.
 */
export function toJson(value: unknown, what: string): string {
  if (value === undefined) return 'null';
  // Values JSON carries exactly are stringified as they are; anything else takes the path-naming
  // walk, which refuses it or makes the exact copy (the fast check allocates nothing on the way).
  return writing(what, () => JSON.stringify(isExactJson(value, []) ? value : plain(value, what, new Map())));
}

/** Throws what toJson would throw for `value`, without serializing it (a task's return value is checked here and written with its meta). */
export function checkJson(value: unknown, what: string): void {
  if (value !== undefined) writing(what, () => isExactJson(value, []) || plain(value, what, new Map()));
}

/** JSON.stringify of a value already checked (a result meta), throwing a SerializationError as toJson does. */
export function stringify(value: unknown, what: string): string {
  return writing(what, () => JSON.stringify(value));
}

/**
 * Runs `write`. The RangeError or TypeError a value throws on the way (nested too deeply for the
 * stack, too long for a string, a cycle or a BigInt JSON.stringify meets) becomes a
 * SerializationError naming `what`: writing the same value again can never succeed, so it is
 * refused for good rather than taken for a failure of the moment and tried again forever.
 */
function writing<T>(what: string, write: () => T): T {
  try {
    return write();
  } catch (err) {
    if (!(err instanceof RangeError || err instanceof TypeError)) throw err;
    const hint = err instanceof RangeError ? ' (it is nested too deeply, or too large)' : '';
    throw new SerializationError(`Cannot write ${what} as JSON: ${err.message}${hint}.`, { cause: err });
  }
}

/**
 * True when JSON.stringify(value) equals JSON.stringify(plain(value)): finite numbers, strings,
 * booleans, null, valid Dates, and arrays and plain objects of those without cycles. False means
 * "not sure", never "refused": the caller then asks plain().
 */
function isExactJson(value: unknown, ancestors: object[]): boolean {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return true;
    case 'number':
      return Number.isFinite(value);
    case 'object':
      break;
    default:
      return false;
  }
  if (value === null) return true;
  if (value instanceof Date) return !Number.isNaN(value.getTime());
  if (ancestors.includes(value)) return false;
  ancestors.push(value);
  try {
    if (Array.isArray(value)) {
      for (let i = 0; i < value.length; i++) {
        // A hole is left as it is by plain() (and written as null by both); undefined is refused.
        if (!(i in value)) continue;
        if (!isExactJson(value[i], ancestors)) return false;
      }
      return true;
    }
    const proto = Object.getPrototypeOf(value);
    if (proto !== Object.prototype && proto !== null) return false;
    for (const key in value) {
      if (!Object.hasOwn(value, key)) continue;
      const item = (value as Record<string, unknown>)[key];
      if (item !== undefined && !isExactJson(item, ancestors)) return false;
    }
    return true;
  } finally {
    ancestors.pop();
  }
}

/** Parses JSON text; a syntax error becomes a SerializationError. Dates stay ISO strings. */
export function fromJson(text: string): unknown {
  try {
    return parseJson(text);
  } catch (err) {
    throw new SerializationError(`Invalid JSON: ${(err as Error).message}`, { cause: err });
  }
}

/**
 * JSON.parse that also reads the NaN, Infinity and -Infinity Python's json module writes (kombu's
 * serializer, Celery's results): a Python float('nan') arrives as NaN, not as a malformed
 * message. Text without them costs nothing more; anything else that is not JSON throws JSON.parse's error.
 */
export function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    if (!NON_FINITE.test(text) || text.includes(NON_FINITE_MARK_TEXT)) throw err;
    try {
      const marked = text.replace(STRING_OR_NON_FINITE, (token) => (token[0] === '"' ? token : JSON.stringify(NON_FINITE_MARK + token)));
      return JSON.parse(marked, (_key, v) =>
        typeof v === 'string' && v.startsWith(NON_FINITE_MARK) ? Number(v.slice(NON_FINITE_MARK.length)) : v,
      );
    } catch {
      throw err;
    }
  }
}

const NON_FINITE = /NaN|Infinity/;
/**
 * A JSON string. One left open (invalid text) runs to the end, so the pattern always matches
 * where it starts and is never tried again from a later quote inside: one pass over the text,
 * where requiring the closing quote rescanned to the end from every quote (minutes for 1 MB of \").
 */
const JSON_STRING = String.raw`"(?:[^"\\]|\\[\s\S]?)*"?`;
/** JSON's strings (left as they are) and Python's non-finite literals outside them. */
const STRING_OR_NON_FINITE = new RegExp(`${JSON_STRING}|-?Infinity|NaN`, 'g');
/** Stands for a non-finite number while JSON.parse reads the text (a string no real text holds: checked). */
const NON_FINITE_MARK = '\u0000celeriac-non-finite:';
const NON_FINITE_MARK_TEXT = JSON.stringify(NON_FINITE_MARK).slice(1, -1);

/** Sixteen digits in a row: the only way JSON text can hold an integer beyond 2^53 (≈ 9.0e15) without an exponent. */
const LONG_DIGITS = /\d{16}/;
/** JSON's strings (skipped: digits in them are text) and numbers. */
const STRING_OR_NUMBER = new RegExp(String.raw`${JSON_STRING}|-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?`, 'g');

/**
 * The first integer literal in JSON text that a JavaScript number cannot carry through unchanged
 * — a Python int beyond 2^53, such as a 64-bit id, which JSON.parse silently rounds — or
 * undefined. Only literals without a fraction or exponent count (1.2345678901234568e+16 is a
 * float to Python too). A literal passes when the number it reads as has exactly its value and
 * JSON.stringify writes that number back as the same digits: 2^54 does; 2^60 (held exactly, but
 * written 1152921504606847000) and 2^53 + 1 (read as 2^53) do not. Literals shorter than 16
 * characters are within ±(2^53 - 1), which a number holds and writes exactly (-0 as 0, the same integer).
 */
export function unsafeIntegerLiteral(text: string): string | undefined {
  if (!LONG_DIGITS.test(text)) return undefined;
  for (const [token] of text.matchAll(STRING_OR_NUMBER)) {
    if (token.length < 16 || token[0] === '"' || /[.eE]/.test(token)) continue;
    const read = Number(token);
    // The written form first: beyond 1e21 it is '1e+21', beyond ~1.8e308 'Infinity' (which BigInt() throws on).
    if (String(read) !== token || BigInt(read) !== BigInt(token)) return token;
  }
  return undefined;
}

/** The error for such a literal, found in `where`. */
export function unsafeIntegerError(where: string, literal: string, fix: string): SerializationError {
  return new SerializationError(
    `the integer ${literal} in ${where} cannot be held exactly by a JavaScript number (it would read as ${Number(literal)}: integers are exact only up to 2^53); ${fix}`,
  );
}
