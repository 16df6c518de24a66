/**
 * What the types let a caller write for a task and its signatures, checked by `npm run typecheck` (each
 * @ts-expect-error line fails it if it compiles) and run on memory:// to show the runtime agrees.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { type Chord, ConfigError, RemoteTaskError, type Signature, type TaskContext, chain, chord, group } from '../../core/index.js';
import { closeAppsAndWorkers, memoryApp, startWorker } from './helpers.js';

afterEach(closeAppsAndWorkers);

describe('task types', () => {
  it('optional and default parameters must be passed: the context comes after the args given', async () => {
    const app = memoryApp();
    const greet = app.task('tasks.greet', (name: string, greeting?: string) => `${greeting ?? 'Hello'}, ${name}`);
    const scale = app.task('tasks.scale', (x: number, factor = 10) => x * factor);
    await startWorker(app);
    // @ts-expect-error greeting must be given, or the context would take its place
    void (() => greet.delay('bob'));
    // @ts-expect-error factor must be given
    void (() => scale.applyAsync([3]));
    // @ts-expect-error run() passes the context last too
    void (() => scale.run(3));
    expect(await (await greet.delay('bob', 'Hi')).get({ timeout: 5000 })).toBe('Hi, bob');
    expect(await (await scale.delay(3, 2)).get({ timeout: 5000 })).toBe(6);
  });

  it('a rest parameter of a type the context is not is refused; one of unknown gets the context as its last item', async () => {
    const app = memoryApp();
    // @ts-expect-error the context would arrive as the last of the strings
    app.task('tasks.count', (...items: string[]) => items.length);
    const echo = app.task('tasks.echo', (...params: unknown[]) => params.slice(0, -1));
    await startWorker(app);
    expect(await (await echo.delay('a', 1)).get({ timeout: 5000 })).toEqual(['a', 1]);
  });

  it('get({ propagate: false }) is typed as the value or the error it resolves to', async () => {
    const app = memoryApp();
    const half = app.task('tasks.half', (x: number) => {
      if (x % 2) throw new RangeError(`${x} is odd`);
      return x / 2;
    });
    await startWorker(app);
    const value = await (await half.delay(3)).get({ timeout: 5000, propagate: false });
    // @ts-expect-error the value may be the error
    const wrong: number = value;
    expect(wrong).toBeInstanceOf(RemoteTaskError);
    const text = value instanceof Error ? `${value.name}: ${value.message}` : value.toFixed();
    expect(text).toBe('RangeError: 3 is odd');
    const both = await group(half.s(4), half.s(5)).applyAsync();
    const [four, five]: [number | RemoteTaskError, number | RemoteTaskError] = await both.get({ timeout: 5000, propagate: false });
    // @ts-expect-error with propagate: false a group's results may be errors
    const numbers: [number, number] = await both.get({ timeout: 5000, propagate: false });
    expect([four, numbers[1]]).toEqual([2, five]);
    expect(five).toBeInstanceOf(RemoteTaskError);
    const two: number = await (await half.delay(4)).get({ timeout: 5000 });
    expect(two).toBe(2);
  });

  it('group, chord and chain take lists built at run time, with their result types; a list known to be empty does not compile, save a chord header (its body then runs with [])', async () => {
    const app = memoryApp();
    const add = app.task('tasks.add', (x: number, y: number) => x + y);
    const total = app.task('tasks.total', (xs: number[]) => xs.reduce((a, b) => a + b, 0));
    await startWorker(app);
    const xs = [1, 2, 3];
    const sums: number[] = await (await group(...xs.map((x) => add.s(x, 1))).applyAsync()).get({ timeout: 5000 });
    expect(sums).toEqual([2, 3, 4]);
    const steps = [add.s(1, 1), add.s(10)];
    const last: number = await (await chain(...steps).applyAsync()).get({ timeout: 5000 });
    expect(last).toBe(12);
    const none: Signature<number>[] = [];
    const summed: Chord<number> = chord(
      xs.map((x) => add.s(x, x)),
      total.s(),
    );
    expect(summed.header).toHaveLength(3);
    // @ts-expect-error a group of adds gives numbers
    void (async (): Promise<string[]> => (await group(...xs.map((x) => add.s(x, 1))).applyAsync()).get());
    // @ts-expect-error no members
    void (() => group());
    // An empty header sends the body at once with [], as Celery's chord.run does.
    const nothing: number = await (await chord([], total.s()).applyAsync()).get({ timeout: 5000 });
    expect(nothing).toBe(0);
    expect(await (await chord(none, total.s()).applyAsync()).get({ timeout: 5000 })).toBe(0);
    expect(() => group(...none)).toThrow(ConfigError);
    expect(() => chain(...none)).toThrow(ConfigError);
  });

  it('applyAsync may leave out the args only for a task that takes none', async () => {
    const app = memoryApp();
    const add = app.task('tasks.add', (x: number, y: number) => x + y);
    const ping = app.task('tasks.ping', () => 'pong');
    const whoami = app.task('tasks.whoami', (ctx: TaskContext) => ctx.name);
    await startWorker(app);
    // @ts-expect-error add needs its two numbers
    void (() => add.applyAsync());
    // @ts-expect-error nor may they be undefined to reach the options
    void (() => add.applyAsync(undefined, {}, { countdown: 5 }));
    expect(await (await ping.applyAsync()).get({ timeout: 5000 })).toBe('pong');
    expect(await (await whoami.applyAsync(undefined, {}, { queue: 'celery' })).get({ timeout: 5000 })).toBe('tasks.whoami');
    expect(await (await add.applyAsync([1, 2], {}, { countdown: 0 })).get({ timeout: 5000 })).toBe(3);
  });

  it('a trailing ctx?: TaskContext is the context, not an argument; a trailing any counts as the context too', async () => {
    const app = memoryApp();
    const maybe = app.task('tasks.maybe', (x: number, ctx?: TaskContext) => `${x}:${ctx?.name}`);
    // biome-ignore lint/suspicious/noExplicitAny: the rule under test is about a parameter typed any
    const ingest = app.task('tasks.ingest', (x: number, payload: any) => [x, typeof payload]);
    await startWorker(app);
    // @ts-expect-error the context is not passed by the caller
    void (() => maybe.delay(1, {} as TaskContext));
    // @ts-expect-error payload is taken to be the context
    void (() => ingest.delay(1, { id: 'x' }));
    expect(await (await maybe.delay(1)).get({ timeout: 5000 })).toBe('1:tasks.maybe');
    expect(await (await ingest.delay(1)).get({ timeout: 5000 })).toEqual([1, 'object']);
  });
});
