/** The option and argument parsers of the commands (core/cli/parse.ts): what they accept, and the usage error for the rest. */
import { InvalidArgumentError } from 'commander';
import { describe, expect, it } from 'vitest';
import { isoDate, jsonArray, jsonObject, nonEmpty } from '../../core/cli/parse.js';
import { thrownMessage } from '../core/helpers.js';

const refusal = (parse: () => unknown): string => thrownMessage(parse, InvalidArgumentError);

describe('--eta', () => {
  // new Date() read '5' as a date in 2001 (so the task ran at once) and a naive time in local time.
  it('reads ISO 8601 as a worker reads the eta header: no offset means UTC', () => {
    const tz = process.env.TZ;
    process.env.TZ = 'America/New_York'; // a local time that is not UTC
    try {
      expect(isoDate('2030-01-01T10:00:00').toISOString()).toBe('2030-01-01T10:00:00.000Z');
    } finally {
      process.env.TZ = tz;
    }
    expect(isoDate('2030-01-01T10:00:00+02:00').toISOString()).toBe('2030-01-01T08:00:00.000Z');
    expect(refusal(() => isoDate('5'))).toBe("Expected an ISO 8601 date-time such as 2030-01-01T12:00:00Z (no offset means UTC); got '5'.");
    expect(refusal(() => isoDate('Mon, 01 Jan 2035 00:00:00 GMT'))).toMatch(/Expected an ISO 8601 date-time/);
  });
});

describe('JSON arguments', () => {
  // JSON.parse rounded 9007199254740993 to 9007199254740992, and the task received that.
  it('refuses an integer a JavaScript number cannot hold exactly, naming it', () => {
    expect(refusal(() => jsonArray('[1, 9007199254740993]'))).toBe(
      'the integer 9007199254740993 in the arguments cannot be held exactly by a JavaScript number (it would read as 9007199254740992: integers are exact only up to 2^53); send it as a string ("9007199254740993")',
    );
    expect(refusal(() => jsonObject('{"id": -12345678901234567}'))).toMatch(/the integer -12345678901234567 in the keyword arguments/);
    // 2^60: a number holds it, but it would be sent on as 1152921504606847000.
    expect(refusal(() => jsonArray('[1152921504606846976]'))).toMatch(
      /^the integer 1152921504606846976 in the arguments cannot be held exactly/,
    );
    expect(jsonArray('[9007199254740992, "9007199254740993", 1.2345678901234567e+16]')).toEqual([
      2 ** 53,
      '9007199254740993',
      12345678901234568,
    ]);
  });
});

describe('usage errors', () => {
  it('say "an object" (it said "a object")', () => {
    expect(refusal(() => jsonArray('{"a": 1}'))).toBe("Positional arguments must be a JSON array, such as '[4, 4]'; got an object.");
    expect(refusal(() => jsonObject('[1]'))).toMatch(/got an array\.$/);
    expect(refusal(() => jsonObject('1'))).toMatch(/got a number\.$/);
  });

  it('refuse a number JSON reads as Infinity (it failed only when sent, exit 1)', () => {
    expect(refusal(() => jsonArray('[1e400]'))).toBe(
      'Cannot send args[0] as JSON: Infinity has no JSON form; send null or a string instead.',
    );
    expect(refusal(() => jsonObject('{"x": [-1e400]}'))).toMatch(/^Cannot send kwargs\.x\[0\] as JSON: -Infinity/);
  });

  it("refuse an empty name or URL (-A '' loaded no module, --queue '' failed only when sent)", () => {
    expect(refusal(() => nonEmpty(''))).toBe('Expected a value; got an empty string.');
    expect(refusal(() => nonEmpty(' '))).toBe('Expected a value; got an empty string.');
    expect(nonEmpty('tasks')).toBe('tasks');
  });
});
