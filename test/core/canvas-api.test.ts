/**
 * The caller's canvas (core/canvas.ts): chain, group and chord built from `task.s()` / `task.si()`
 * and sent as Celery's client sends them; run here by celeriac workers (on memory://, local:// and
 * redis://, DB 4 only; on sqs:// in test/providers/sqs.test.ts), by Python's in test/interop.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type App, ConfigError, chain, chord, group } from '../../core/index.js';
import { closeAppsAndWorkers, freshMemoryUrl, memoryApp, startWorker, testApp } from './helpers.js';

const REDIS_URL = 'redis://127.0.0.1:6379/4';
const raw = new Redis(REDIS_URL);

const folders: string[] = [];
/** A fresh local:// folder, removed after the tests. */
const folder = (): string => {
  folders.push(mkdtempSync(join(tmpdir(), 'celeriac-canvas-')));
  return folders.at(-1) as string;
};

beforeAll(() => raw.flushdb());
afterEach(closeAppsAndWorkers);
afterAll(async () => {
  await raw.quit();
  for (const f of folders.splice(0)) rmSync(f, { recursive: true, force: true });
});

function math(app: App) {
  return {
    add: app.task('tasks.add', (x: number, y: number) => x + y),
    mul: app.task('tasks.mul', (x: number, y: number) => x * y),
    total: app.task('tasks.total', (xs: number[]) => xs.reduce((a, b) => a + b, 0)),
    words: app.task('tasks.words', (n: number) => 'word '.repeat(n).trim()),
  };
}

describe('canvas from TypeScript', () => {
  it('a chain gives each step the result before it; si() steps take only their own args', async () => {
    const app = memoryApp();
    const { add, mul } = math(app);
    await startWorker(app);
    const result = await chain(add.s(2, 2), mul.s(10), add.s(1)).applyAsync();
    expect(await result.get({ timeout: 5000 })).toBe(41);
    const fresh = await chain(add.s(2, 2), add.si(5, 5)).applyAsync();
    expect(await fresh.get({ timeout: 5000 })).toBe(10);
  });

  it('a chain and a group run the same on local://', async () => {
    const where = `local://${folder()}`;
    const app = testApp({ broker: where, backend: where });
    const { add, mul } = math(app);
    await startWorker(app);
    expect(await (await chain(add.s(1, 2), mul.s(5)).applyAsync()).get({ timeout: 10_000 })).toBe(15);
    expect(await (await group(add.s(1, 2), mul.s(2, 2)).applyAsync()).get({ timeout: 10_000 })).toEqual([3, 4]);
  });

  it('a group runs side by side and gives every result in order; a signature sent alone is a plain call', async () => {
    const app = memoryApp();
    const { add, mul } = math(app);
    await startWorker(app);
    const results = await group(add.s(1, 1), mul.s(3, 3), add.s(10, 10)).applyAsync();
    const values: [number, number, number] = await results.get({ timeout: 5000 });
    expect(values).toEqual([2, 9, 20]);
    expect(results.results).toHaveLength(3);
    expect(await (await add.s(4, 4).set({ queue: 'celery' }).applyAsync()).get({ timeout: 5000 })).toBe(8);
  });

  it("a chain may end in a group: its result is the group's", async () => {
    const app = memoryApp();
    const { add } = math(app);
    await startWorker(app);
    const results = await chain(add.s(1, 2), group(add.s(10), add.s(20))).applyAsync();
    const values: [number, number] = await results.get({ timeout: 5000 });
    expect(values).toEqual([13, 23]);
  });

  it('a chord needs a result backend: refused before anything is sent, saying so', async () => {
    const app = testApp({ broker: freshMemoryUrl() });
    const { add, total } = math(app);
    const err = await chord([add.s(1, 1)], total.s())
      .applyAsync()
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as Error).message).toMatch(
      /^Cannot send a chord \(the result backend disabled:\/\/ cannot keep chords: a chord counts its header's results in the result backend, so set result_backend \(e\.g\. local:\/\/\.celeriac or redis:\/\/localhost:6379\/0\)\)\.$/,
    );
    // Also one met only later: a group followed by more steps in a chain becomes a chord (it was sent, then never ended).
    const later = await chain(add.s(1, 2), group(add.s(10), add.s(20)), total.s())
      .applyAsync()
      .catch((e: unknown) => e);
    expect((later as Error).message).toMatch(/^Cannot send a chord \(the result backend disabled:\/\/ cannot keep chords/);
    expect(await (await app.broker()).size?.('celery')).toBe(0);
  });

  describe.each([
    ['memory://', () => freshMemoryUrl()],
    ['local://', () => `local://${folder()}`],
    ['redis://', () => REDIS_URL],
  ])('a chord on %s', (_scheme, url) => {
    it('runs its header, then its body with every result in header order; a failing part fails the body with ChordError', async () => {
      const where = url();
      const app = testApp({ broker: where, backend: where });
      const { add, mul, total } = math(app);
      const boom = app.task('tasks.boom', (_x: number) => {
        throw new RangeError('boom!');
      });
      const record = app.task('tasks.record', (xs: unknown[]) => xs);
      await startWorker(app, { concurrency: 4 });
      const result = await chord([add.s(1, 1), mul.s(3, 3), add.s(10, 10)], total.s()).applyAsync();
      expect(await result.get({ timeout: 10_000 })).toBe(31);
      const ordered = await chord(
        Array.from({ length: 12 }, (_, i) => add.s(i, 0)),
        record.s(),
      ).applyAsync();
      expect(await ordered.get({ timeout: 10_000 })).toEqual(Array.from({ length: 12 }, (_, i) => i));
      // A group or chord followed by more steps becomes a chord whose body runs them, as Celery's client builds it.
      const viaGroup = await chain(add.s(1, 2), group(add.s(10), add.s(20)), total.s(), mul.s(2)).applyAsync();
      expect(await viaGroup.get({ timeout: 10_000 })).toBe(72);
      const afterChord = await chain(chord([add.s(1, 1), add.s(2, 2)], total.s()), mul.s(10)).applyAsync();
      expect(await afterChord.get({ timeout: 10_000 })).toBe(60);
      // An empty header sends the body at once with [], as Celery's chord.run does; in a chain too.
      expect(await (await chord([], total.s()).applyAsync()).get({ timeout: 10_000 })).toBe(0);
      expect(await (await chain(add.s(1, 1), chord([], total.s()), add.s(5)).applyAsync()).get({ timeout: 10_000 })).toBe(5);
      const failed = await chord([add.s(1, 1), boom.s(1)], total.s()).applyAsync();
      await expect(failed.get({ timeout: 10_000 })).rejects.toMatchObject({
        name: 'ChordError',
        message: expect.stringMatching(/^Dependency \S+ raised RangeError\('boom!'\)$/),
      });
      // Followed by a step, the body is a chain: that step fails with it instead of never settling.
      const failedThen = await chain(chord([add.s(1, 1), boom.s(1)], total.s()), add.s(1)).applyAsync();
      await expect(failedThen.get({ timeout: 10_000 })).rejects.toMatchObject({ name: 'ChordError' });
    });
  });

  it("a step that fails fails the rest of its chain, as Celery's mark_as_failure does: get() on the chain throws instead of waiting", async () => {
    const app = memoryApp();
    const { add } = math(app);
    const boom = app.task('tasks.boom', (_x: number) => {
      throw new RangeError('boom!');
    });
    await startWorker(app);
    const result = await chain(add.s(1, 2), boom.s(), add.s(10), add.s(20)).applyAsync();
    await expect(result.get({ timeout: 5000 })).rejects.toMatchObject({ name: 'RangeError', message: 'boom!' });
    expect(result.state).toBe('FAILURE');
  });

  describe.each([
    ['memory://', () => freshMemoryUrl()],
    ['redis://', () => REDIS_URL],
  ])('a chain on %s', (_scheme, url) => {
    it("whose step fails before a chord or group rejects with the step's error: what would have run after it fails too", async () => {
      const where = url();
      const app = testApp({ broker: where, backend: where });
      const { add, total } = math(app);
      const boom = app.task('tasks.boom', () => {
        throw new RangeError('boom!');
      });
      await startWorker(app);
      const failed = async (result: { get(o: { timeout: number }): Promise<unknown> }) =>
        expect(result.get({ timeout: 5000 })).rejects.toMatchObject({ name: 'RangeError', message: 'boom!' });
      // The handle is the chord body's result, then the last step's (the body goes on with it).
      await failed(await chain(boom.s(), chord([add.s(1), add.s(2)], total.s())).applyAsync());
      await failed(await chain(boom.s(), chord([add.s(1), add.s(2)], total.s()), add.s(1)).applyAsync());
      await failed(await chain(boom.s(), chord([add.s(1), add.s(2)], total.s()), chord([add.s(3)], total.s()), add.s(1)).applyAsync());
      // A group becomes a chord when steps follow it; last, its members are the handle.
      await failed(await chain(boom.s(), group(add.s(1), add.s(2)), total.s()).applyAsync());
      await failed(await chain(boom.s(), group(add.s(1), add.s(2))).applyAsync());
    });
  });

  it('from plain JavaScript, what is not a signature or a signature option is refused at once, saying what', () => {
    const app = memoryApp();
    const { add } = math(app);
    const js = { chain, group, chord } as unknown as Record<string, (...a: unknown[]) => unknown>;
    expect(() => js.chain?.()).toThrow(
      'chain(...steps): give at least one step, each a signature such as add.s(2, 2), a group or a chord; got []',
    );
    expect(() => js.group?.(add.s(1, 1), 'tasks.add')).toThrow(
      'group(...members): each must be a signature such as add.s(2, 2) (task.s(), task.si() or app.signature()), got "tasks.add"',
    );
    expect(() => js.chord?.(add.s(1, 1), add.s())).toThrow(
      /^chord\(header, body\): the header: give a list of signatures, such as \[add\.s\(2, 2\)\]/,
    );
    expect(() => js.chord?.([add.s(1, 1)], undefined)).toThrow(
      /^chord\(header, body\): the body: each must be a signature .*got undefined$/,
    );
    expect(() => add.s(1, 1).set({ queue: 5 } as never)).toThrow(/tasks\.add\.s\(\.\.\.\)\.set\(options\).*queue/);
    expect(() => add.s(1, 1).set({ countdwon: 5 } as never)).toThrow(
      "tasks.add.s(...).set(options): 'countdwon' is not a signature option. Did you mean 'countdown'? Options: countdown, queue, priority.",
    );
    expect(() => app.signature('tasks.add', [1], { priority: 12 })).toThrow(/priority/);
    // A task or a chain where a signature belongs is shown without the app's settings (URLs with passwords).
    const secret = testApp({ broker: 'redis://:hunter2@127.0.0.1:6379/4', backend: 'redis://:hunter2@127.0.0.1:6379/4' });
    const mul = secret.task('tasks.mul', (x: number, y: number) => x * y);
    for (const wrong of [() => js.group?.(mul), () => js.group?.(chain(mul.s(1, 2), mul.s(3)))]) {
      expect(wrong).toThrow(/"sender":\{"app":"tasks"\}/);
      expect(wrong).not.toThrow(/hunter2/);
    }
  });

  it('signatures are typed: arguments by position from the end, results through get() (the @ts-expect-error lines fail npm run typecheck if they compile)', async () => {
    const app = memoryApp();
    const { add, words } = math(app);
    await startWorker(app);
    expect([add.s(1, 2).args, add.s(2).args, add.s().args]).toEqual([[1, 2], [2], []]);
    // @ts-expect-error a string where add takes numbers
    add.s('2');
    // @ts-expect-error three arguments for two parameters
    add.s(1, 2, 3);
    // @ts-expect-error si() takes every argument
    add.si(1);
    const result = await chain(add.s(1, 2), words.s()).applyAsync();
    const text: string = await result.get({ timeout: 5000 });
    expect(text).toBe('word word word');
    // @ts-expect-error the chain's result is the last step's (a string)
    const wrong: number = await result.get({ timeout: 5000 });
    expect(wrong).toBe(text);
  });
});
