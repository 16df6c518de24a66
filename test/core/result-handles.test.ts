/** What a result handle tells about its task and group beyond the value: Celery's AsyncResult and GroupResult fields and methods. */
import { getEventListeners } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import type { App } from '../../core/app.js';
import { AsyncResult, GroupResult, type RemoteTaskError, chain, group } from '../../core/index.js';
import type { ResultMeta } from '../../core/result-meta.js';
import type { TaskContext } from '../../core/task-context.js';
import { closeAppsAndWorkers, memoryApp, startWorker } from './helpers.js';

afterEach(closeAppsAndWorkers);

function math(app: App) {
  const add = app.task('tasks.add', (x: number, y: number) => x + y);
  const fail = app.task('tasks.fail', (why: string) => {
    throw new RangeError(why);
  });
  return { add, fail };
}

describe('AsyncResult', () => {
  it('with result_extended shows the name, args, kwargs, worker, retries, queue and date done of the last meta read', async () => {
    const app = memoryApp({ result_extended: true });
    const scaled = app.task('tasks.scaled', (x: number, ctx: TaskContext) => x * (ctx.kwargs.by as number));
    const r = await scaled.applyAsync([2], { by: 3 }, { queue: 'math' });
    expect(r.name).toBeUndefined(); // nothing read yet
    await startWorker(app, { queues: ['math'], hostname: 'w2@test' });
    const before = Date.now();
    expect(await r.get({ timeout: 5000 })).toBe(6);
    expect([r.name, r.args, r.kwargs, r.worker, r.retries, r.queue]).toEqual(['tasks.scaled', [2], { by: 3 }, 'w2@test', 0, 'math']);
    // Celery writes date_done as naive UTC with microseconds: read as UTC, to the millisecond.
    expect(r.dateDone).toBeInstanceOf(Date);
    expect(Math.abs((r.dateDone as Date).getTime() - before)).toBeLessThan(5000);
  });

  it('reads date_done as UTC, and names neither name nor worker without result_extended', async () => {
    const app = memoryApp();
    const backend = await app.backend();
    const meta: ResultMeta = {
      status: 'SUCCESS',
      result: 1,
      traceback: null,
      children: [],
      date_done: '2026-11-23T23:05:32.631234',
      task_id: 'x',
    };
    await backend.store('x', meta);
    const r = app.AsyncResult('x');
    await r.refresh();
    expect(r.dateDone?.toISOString()).toBe('2026-11-23T23:05:32.631Z');
    expect([r.name, r.args, r.worker]).toEqual([undefined, undefined, undefined]);
  });

  it("a chain step's parent and children are the steps around it, and a group it sent on is a GroupResult", async () => {
    const app = memoryApp();
    const { add } = math(app);
    await startWorker(app);
    const last = await chain(add.s(1, 2), add.s(10)).applyAsync();
    expect(await last.get({ timeout: 5000 })).toBe(13);
    const first = last.parent as AsyncResult;
    expect(first).toBeInstanceOf(AsyncResult);
    // The same handle on every read, as Celery's res.parent: one awaited through it keeps its state.
    expect(await (last.parent as AsyncResult).get({ timeout: 5000 })).toBe(3);
    expect([last.parent, last.parent?.state]).toEqual([first, 'SUCCESS']);
    await last.refresh(); // a new meta read: the handles stay
    expect([last.parent, last.parent?.state]).toEqual([first, 'SUCCESS']);
    expect(first.children.map(String)).toEqual([last.id]);

    const members = await chain(add.s(1, 2), group(add.s(10), add.s(20))).applyAsync();
    expect(await members.get({ timeout: 5000 })).toEqual([13, 23]);
    const sender = (members.results[0] as AsyncResult).parent as AsyncResult;
    await sender.refresh();
    const [child] = sender.children;
    expect(child).toBeInstanceOf(GroupResult);
    expect((child as GroupResult).results.map(String)).toEqual(members.results.map(String));
    expect(await (child as GroupResult).get({ timeout: 5000 })).toEqual([13, 23]);
  });

  it('revoke() flags the task on every worker: it is discarded as REVOKED when it comes up', async () => {
    const app = memoryApp();
    let ran = false;
    const t = app.task('tasks.t', () => {
      ran = true;
    });
    await startWorker(app);
    const r = await t.applyAsync([], {}, { countdown: 0.3 });
    expect(await r.revoke({ timeout: 300 })).toEqual([{ 'w1@test': { ok: `tasks ${r.id} flagged as revoked` } }]);
    expect(((await r.get({ timeout: 5000 }).catch((e: unknown) => e)) as RemoteTaskError).name).toBe('TaskRevokedError');
    expect(ran).toBe(false);
  });
});

describe('GroupResult', () => {
  it('counts completed members and answers ready, waiting, successful and failed, as Celery does', async () => {
    const app = memoryApp();
    const { add, fail } = math(app);
    const results = await group(add.s(1, 1), fail.s('no'), add.s(2, 2)).applyAsync();
    expect([await results.ready(), await results.waiting(), await results.completedCount()]).toEqual([false, true, 0]);
    await startWorker(app);
    const values = await results.join({ timeout: 5000, propagate: false });
    expect([values[0], (values[1] as Error).name, values[2]]).toEqual([2, 'RangeError', 4]);
    expect(await results.completedCount()).toBe(2); // a failure is not counted
    expect([await results.ready(), await results.waiting(), await results.successful(), await results.failed()]).toEqual([
      true,
      false,
      false,
      true,
    ]);
    await results.forget();
    expect([await results.ready(), await results.completedCount()]).toEqual([false, 0]);
  });

  it('revoke() revokes every member', async () => {
    const app = memoryApp();
    const { add } = math(app);
    await startWorker(app);
    const results = await group(add.s(1, 1).set({ countdown: 0.3 }), add.s(2, 2).set({ countdown: 0.3 })).applyAsync();
    const ids = results.results.map(String);
    expect(await results.revoke({ timeout: 300 })).toEqual([{ 'w1@test': { ok: `tasks ${ids.join(', ')} flagged as revoked` } }]);
    const got = await results.get({ timeout: 5000, propagate: false });
    expect(got.map((e) => (e as Error).name)).toEqual(['TaskRevokedError', 'TaskRevokedError']);
  });

  it("get() ends with the caller's signal, its reason passed on to every member's wait", async () => {
    const app = memoryApp();
    const { add } = math(app);
    const results = await group(add.s(1, 1), add.s(2, 2)).applyAsync(); // no worker: they wait
    const caller = new AbortController();
    const got = results.get({ signal: caller.signal });
    // Many groups waited for under one request's signal listen to it once (no MaxListeners warning).
    const more = Array.from({ length: 11 }, () => results.get({ signal: caller.signal }).catch((e: unknown) => e));
    expect(getEventListeners(caller.signal, 'abort')).toHaveLength(1);
    const reason = new Error('the request went away');
    caller.abort(reason);
    await expect(got).rejects.toBe(reason);
    expect(await Promise.all(more)).toEqual(more.map(() => reason));
    const already = new AbortController();
    already.abort(reason);
    await expect(results.get({ signal: already.signal })).rejects.toBe(reason);
  });

  it("get() that rejects on a member's failure stops waiting for the others", async () => {
    const app = memoryApp();
    const { add, fail } = math(app);
    await startWorker(app);
    const backend = await app.backend();
    const waitFor = backend.waitFor.bind(backend);
    const waits: Promise<unknown>[] = [];
    backend.waitFor = (id, opts) => {
      const wait = waitFor(id, opts);
      waits.push(wait);
      return wait;
    };
    // The second member goes to a queue no worker consumes: it never finishes.
    const results = await group(fail.s('first'), add.s(1, 2).set({ queue: 'nobody' })).applyAsync();
    await expect(results.get()).rejects.toMatchObject({ name: 'RangeError', message: 'first' });
    const stopped = Promise.allSettled(waits).then(() => 'stopped');
    expect(await Promise.race([stopped, new Promise((r) => setTimeout(r, 1000, 'still waiting'))])).toBe('stopped');
  });
});
