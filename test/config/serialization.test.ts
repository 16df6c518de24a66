import { describe, expect, it } from 'vitest';
import { SerializationError } from '../../core/errors.js';
import { fromJson, toJson } from '../../core/serialization.js';
import { thrownMessage } from '../core/helpers.js';

function refusal(value: unknown, what = 'args'): string {
  return thrownMessage(() => toJson(value, what), SerializationError);
}

class Point {
  constructor(
    public x: number,
    public y: number,
  ) {}
}

describe('toJson', () => {
  it('serializes plain data exactly as JSON.stringify', () => {
    const value = [1, 'two', true, null, { a: [1, { b: 'c' }], 'odd-key': 0 }, Object.assign(Object.create(null), { n: 1 })];
    expect(toJson(value, 'args')).toBe(JSON.stringify(value));
  });

  it('sends a Date as its ISO string in UTC, which arrives as a string', () => {
    const when = new Date(Date.UTC(2024, 4, 1, 12, 0, 0));
    const text = toJson([{ when }], 'args');
    expect(text).toBe('[{"when":"2024-05-01T12:00:00.000Z"}]');
    expect(fromJson(text)).toEqual([{ when: '2024-05-01T12:00:00.000Z' }]);
    expect(refusal([new Date(Number.NaN)])).toContain('args[0]');
  });

  it('sends a bare undefined (a task that returns nothing) as null; leaves out undefined properties', () => {
    expect(toJson(undefined, 'result')).toBe('null');
    expect(toJson({ a: undefined, b: 1 }, 'kwargs')).toBe('{"b":1}');
  });

  it.each([
    { value: [1, undefined], path: 'args[1]', why: 'undefined in an array' },
    { value: [1, { big: 10n }], path: 'args[1].big', why: 'BigInt 10n' },
    { value: [new Map([['a', 1]])], path: 'args[0]', why: 'a Map' },
    { value: [new Set([1])], path: 'args[0]', why: 'a Set' },
    { value: [{ p: new Point(1, 2) }], path: 'args[0].p', why: 'Point is a class instance' },
    { value: [{ f() {} }], path: 'args[0].f', why: 'a function' },
    { value: [Symbol('s')], path: 'args[0]', why: 'Symbol(s)' },
    { value: [Number.NaN], path: 'args[0]', why: 'NaN' },
    { value: [{ 'my key': Number.POSITIVE_INFINITY }], path: 'args[0]["my key"]', why: 'Infinity' },
    { value: [Buffer.from('x')], path: 'args[0]', why: 'Buffer' },
  ])('refuses $why at $path', ({ value, path, why }) => {
    const message = refusal(value);
    expect(message).toContain(`Cannot send ${path} as JSON`);
    expect(message).toContain(why);
  });

  it('refuses a cycle, naming both ends', () => {
    const node: Record<string, unknown> = { name: 'a' };
    node.self = { parent: node };
    const message = refusal([1, node]);
    expect(message).toContain('args[1].self.parent');
    expect(message).toContain('refers back to args[1]');
  });

  it('allows the same object twice when it is not a cycle', () => {
    const shared = { x: 1 };
    expect(toJson([shared, shared], 'args')).toBe('[{"x":1},{"x":1}]');
  });

  it('starts the path with what is being sent', () => {
    expect(refusal({ when: 1n }, 'kwargs')).toContain('kwargs.when');
  });
});

describe('fromJson', () => {
  it('parses JSON and turns a syntax error into a SerializationError', () => {
    expect(fromJson('[1,{"a":null}]')).toEqual([1, { a: null }]);
    expect(() => fromJson('[1,')).toThrow(SerializationError);
  });

  it("reads the NaN, Infinity and -Infinity Python's json writes, outside strings only", () => {
    expect(fromJson('[[NaN, Infinity, -Infinity, "NaN and Infinity", "a \\"NaN\\""], {"x": NaN}, {}]')).toEqual([
      [Number.NaN, Infinity, -Infinity, 'NaN and Infinity', 'a "NaN"'],
      { x: Number.NaN },
      {},
    ]);
    expect(() => fromJson('[NaN, nope]')).toThrow(SerializationError);
    // A string that holds the marker the reader uses is not mistaken for a number.
    expect(() => fromJson('["\\u0000celeriac-non-finite:NaN", NaN]')).toThrow(SerializationError);
  });

  it('refuses invalid text with NaN and a string left open in one pass, not one per quote inside it', () => {
    // 200 KB of escaped quotes never closed: ~15 s when every quote started a scan to the end.
    for (const text of [`[NaN, "${'\\"'.repeat(100_000)}`, `[NaN, "${'\\"'.repeat(100_000)}\\`]) {
      const started = performance.now();
      expect(() => fromJson(text)).toThrow(SerializationError);
      expect(performance.now() - started).toBeLessThan(2_000);
    }
  });
});
