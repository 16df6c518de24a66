/** The option and argument parsers of the commands (core/cli/parse.ts): what they accept, and the usage error for the rest. */
import { InvalidArgumentError } from 'commander';
import { describe, expect, it } from 'vitest';
import { isoDate } from '../../core/cli/parse.js';

const refusal = (parse: () => unknown): string => {
  try {
    parse();
  } catch (err) {
    expect(err).toBeInstanceOf(InvalidArgumentError);
    return (err as Error).message;
  }
  throw new Error('accepted');
};

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
