/** Celery's "First steps" on memory://: define, call, read results, diagnose. */
import { afterEach, describe, expect, it } from 'vitest';
import type { App } from '../../core/app.js';
import type { AsyncResult } from '../../core/async-result.js';
import { NotRegistered, RemoteTaskError, TaskRevokedError, TimeLimitExceeded, TimeoutError } from '../../core/errors.js';
import type { TaskContext } from '../../core/task-context.js';
import type { Worker } from '../../core/worker/worker.js';
import { closeAppsAndWorkers, gate, memoryApp, nextEvent, startWorker, until } from './helpers.js';

let app: App;
let worker: Worker | undefined;

afterEach(closeAppsAndWorkers);

function defineTasks(a: App) {
  const add = a.task(function add(x: number, y: number) {
    return x + y;
  });
  const boom = a.task('tasks.boom', (what: string) => {
    throw new TypeError(`boom: ${what}`);
  });
  return { add, boom };
}

describe('first steps', () => {
  it('a task called with delay returns its value through get()', async () => {
    app = memoryApp();
    const { add } = defineTasks(app);
    expect(add.name).toBe('tasks.add');
    worker = await startWorker(app);
    const r = await add.delay(4, 4);
    expect(await r.get({ timeout: 5000 })).toBe(8);
    expect(await r.ready()).toBe(true);
    expect(await r.successful()).toBe(true);
    expect(r.state).toBe('SUCCESS');
    expect(r.backend).toBe(app.backendUrl());
  });

  it('arguments are typed, and sendTask is typed from `typeof task`', async () => {
    app = memoryApp();
    const { add } = defineTasks(app);
    worker = await startWorker(app);
    // @ts-expect-error a string is not a number
    void (() => add.delay('4', 4));
    // @ts-expect-error two arguments are required
    void (() => add.delay(4));
    const r = await app.sendTask<typeof add>('tasks.add', [1, 2]);
    const n: number = await r.get({ timeout: 5000 });
    expect(n).toBe(3);
    // @ts-expect-error wrong argument type through sendTask
    void (() => app.sendTask<typeof add>('tasks.add', ['1', 2]));
  });

  it('a task that takes the context gets its id, name, retries and kwargs', async () => {
    app = memoryApp();
    const info = app.task(
      'tasks.info',
      (prefix: string, ctx: TaskContext) => `${prefix}:${ctx.name}:${ctx.id}:${ctx.retries}:${JSON.stringify(ctx.kwargs)}`,
    );
    worker = await startWorker(app);
    const r = await info.applyAsync(['p'], { k: 1 });
    expect(await r.get({ timeout: 5000 })).toBe(`p:tasks.info:${r.id}:0:{"k":1}`);
  });

  it("a failed task re-throws from get() with the task's error name and remote traceback", async () => {
    app = memoryApp();
    const { boom } = defineTasks(app);
    worker = await startWorker(app);
    const r = await boom.delay('x');
    const err = await r.get({ timeout: 5000 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RemoteTaskError);
    expect((err as RemoteTaskError).name).toBe('TypeError');
    expect((err as RemoteTaskError).message).toBe('boom: x');
    expect((err as RemoteTaskError).remoteTraceback).toContain('boom: x');
    expect(r.traceback).toContain('TypeError');
    expect(await r.failed()).toBe(true);
  });

  it("a time limit, an expiry or an unknown task rejects get() with celeriac's class of that name, carrying the stored failure", async () => {
    app = memoryApp();
    const { add } = defineTasks(app);
    const stuck = app.task('tasks.stuck', () => new Promise(() => {}), { timeLimit: 0.2 });
    worker = await startWorker(app);
    const failureOf = async (r: AsyncResult) => r.get({ timeout: 5000 }).catch((e: unknown) => e);
    const limited = await stuck.delay();
    const limit = await failureOf(limited);
    expect(limit).toBeInstanceOf(TimeLimitExceeded);
    expect(limit).toBeInstanceOf(RemoteTaskError);
    expect([(limit as TimeLimitExceeded).seconds, (limit as RemoteTaskError).taskId]).toEqual([0.2, limited.id]);
    const expired = await failureOf(await add.applyAsync([1, 2], {}, { expires: new Date(Date.now() - 1000) }));
    expect(expired).toBeInstanceOf(TaskRevokedError);
    expect((expired as TaskRevokedError).message).toBe('Task expired');
    const unknown = await failureOf(await app.sendTask('tasks.nope', []));
    expect(unknown).toBeInstanceOf(NotRegistered);
    expect((unknown as NotRegistered).taskName).toBe('tasks.nope');
    expect((unknown as RemoteTaskError).excModule).toBe('celery.exceptions');
  });

  it('propagate: false returns the error instead of throwing', async () => {
    app = memoryApp();
    const { boom } = defineTasks(app);
    worker = await startWorker(app);
    const r = await boom.delay('y');
    const value = await r.get({ timeout: 5000, propagate: false });
    expect(value).toBeInstanceOf(RemoteTaskError);
    expect((value as unknown as Error).name).toBe('TypeError');
  });

  it('a get() that times out on PENDING explains why: queue, ignore_result, backend', async () => {
    app = memoryApp();
    const { add } = defineTasks(app);
    const r = await add.applyAsync([1, 1], {}, { queue: 'nobody-listens' });
    const err = await r.get({ timeout: 100 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TimeoutError);
    const text = (err as Error).message;
    expect(text).toContain('PENDING');
    expect(text).toContain("no worker consumes 'nobody-listens'");
    expect(text).toContain('-Q nobody-listens');
    expect(text).toContain('ignore_result');
    expect(text).toContain(app.backendUrl());
    expect(text).toContain("1 message(s) wait in queue 'nobody-listens'");
  });

  it('a result ready by the time a timed-out wait looks once more is returned, not reported as not finished (a slow server)', async () => {
    app = memoryApp();
    const { add } = defineTasks(app);
    worker = await startWorker(app);
    const r = await add.delay(2, 2);
    expect(await r.get({ timeout: 5000 })).toBe(4);
    // A server slow enough that the wait's own reads outlast a short timeout.
    const backend = await app.backend();
    backend.waitFor = async () => {
      throw new TimeoutError('Timed out after 1 ms waiting for the result');
    };
    expect(await app.AsyncResult(r.id).get({ timeout: 1 })).toBe(4);
  });

  it('ignore_result (task option or call option) stores nothing', async () => {
    app = memoryApp();
    const quiet = app.task('tasks.quiet', () => 1, { ignoreResult: true });
    const fails = app.task('tasks.fails', () => {
      throw new RangeError('no');
    });
    const { add } = defineTasks(app);
    worker = await startWorker(app);
    const done1 = nextEvent(worker, 'succeeded', (e) => e.name === 'tasks.quiet');
    const r1 = await quiet.delay();
    await done1;
    const done2 = nextEvent(worker, 'succeeded', (e) => e.name === 'tasks.add');
    const r2 = await add.applyAsync([1, 2], {}, { ignoreResult: true });
    await done2;
    const backend = await app.backend();
    expect(await backend.get(r1.id)).toBeUndefined();
    expect(await backend.get(r2.id)).toBeUndefined();
    const err = await r1.get({ timeout: 50 }).catch((e: unknown) => e);
    expect((err as Error).message).toContain('it is, here');
    // A failure is still stored for a call that asked for no result (Celery's store_errors follows the task).
    const r3 = await fails.applyAsync([], {}, { ignoreResult: true });
    expect(await r3.get({ timeout: 5000, propagate: false })).toMatchObject({ name: 'RangeError' });
  });

  it('track_started stores STARTED with pid and hostname while the task runs', async () => {
    app = memoryApp({ task_track_started: true });
    const g = gate();
    const slow = app.task('tasks.slow', async () => {
      await g.wait;
      return 'done';
    });
    worker = await startWorker(app);
    const r = await slow.delay();
    await until(async () => (await r.refresh())?.status === 'STARTED', 5000, 'STARTED');
    expect(r.info).toEqual({ pid: process.pid, hostname: 'w1@test' });
    g.open();
    expect(await r.get({ timeout: 5000 })).toBe('done');
  });

  it('updateState progress is visible through info', async () => {
    app = memoryApp();
    const g = gate();
    const job = app.task('tasks.job', async (ctx: TaskContext) => {
      await ctx.updateState('PROGRESS', { done: 1, total: 2 });
      await g.wait;
      return 2;
    });
    worker = await startWorker(app);
    const r = await job.delay();
    await until(async () => (await r.refresh())?.status === 'PROGRESS', 5000, 'PROGRESS');
    expect(r.state).toBe('PROGRESS');
    expect(r.info).toEqual({ done: 1, total: 2 });
    expect(await r.ready()).toBe(false);
    g.open();
    expect(await r.get({ timeout: 5000 })).toBe(2);
  });

  it("updateState is stored for a task that ignores its result, as Celery's update_state stores it (its result still is not)", async () => {
    app = memoryApp();
    const g = gate();
    const job = app.task(
      'tasks.quiet-job',
      async (ctx: TaskContext) => {
        await ctx.updateState('PROGRESS', { done: 1, total: 2 });
        await g.wait;
        return 2;
      },
      { ignoreResult: true },
    );
    worker = await startWorker(app);
    const r = await job.delay();
    await until(async () => (await r.refresh())?.status === 'PROGRESS', 5000, 'PROGRESS');
    expect(r.info).toEqual({ done: 1, total: 2 });
    const done = nextEvent(worker, 'succeeded', (e) => e.name === 'tasks.quiet-job');
    g.open();
    await done;
    expect((await r.refresh())?.status).toBe('PROGRESS');
  });

  it('forget() removes the stored result', async () => {
    app = memoryApp();
    const { add } = defineTasks(app);
    worker = await startWorker(app);
    const r = await add.delay(2, 2);
    await r.get({ timeout: 5000 });
    await r.forget();
    expect(await (await app.backend()).get(r.id)).toBeUndefined();
    expect(r.state).toBe('PENDING');
  });

  it('task.run() calls the function in-process', async () => {
    app = memoryApp();
    const { add } = defineTasks(app);
    expect(await add.run(2, 3)).toBe(5);
  });
});
