/**
 * A message's embed followed as Celery's worker follows it (celery-protocol.md §1.2): the chain's
 * next step and link callbacks get the result, errbacks the failed task's id; a chord on a backend
 * that cannot keep one is reported (chords themselves: test/providers/redis-chord.test.ts).
 * The messages are the ones a Python client sends for `chain(...)`, `link=` and `link_error=`.
 */
import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import type { App, AppOptions } from '../../core/app.js';
import { MessageTooLarge } from '../../core/errors.js';
import { createLogger } from '../../core/log.js';
import { publishFromPython as publish, refuseFollowUps, sig } from '../support/python-canvas.js';
import { closeAppsAndWorkers, memoryApp, nextEvent, startWorker, until } from './helpers.js';

afterEach(closeAppsAndWorkers);

function mathApp(settings: AppOptions = {}): App {
  const app = memoryApp(settings);
  app.task('tasks.add', (x: number, y: number) => x + y);
  app.task('tasks.mul', (x: number, y: number) => x * y);
  app.task('tasks.fail', () => {
    throw new Error('broken');
  });
  app.task('tasks.record', (...args: unknown[]) => args.slice(0, -1)); // the context comes last
  return app;
}

describe('canvas from Python clients', () => {
  it('a chain runs step by step, each with the result before it, under the ids the client assigned', async () => {
    const app = mathApp();
    await startWorker(app);
    // chain(add.s(1, 2), add.s(10), mul.s(3)): the remaining steps in reverse order, ids frozen by the client.
    const [second, last] = [randomUUID(), randomUUID()];
    const first = await publish(app, 'tasks.add', [1, 2], {
      chain: [sig('tasks.mul', [3], { task_id: last }), sig('tasks.add', [10], { task_id: second })],
    });
    expect(await app.AsyncResult(last).get({ timeout: 5000 })).toBe(39);
    expect(await app.AsyncResult(second).get({ timeout: 5000 })).toBe(13);
    expect(await app.AsyncResult(first).get({ timeout: 5000 })).toBe(3);
  });

  it('link callbacks get the result (immutable ones their own args), errbacks the failed task id', async () => {
    const app = mathApp();
    await startWorker(app);
    const [linked, frozen, errback] = [randomUUID(), randomUUID(), randomUUID()];
    await publish(app, 'tasks.add', [2, 2], {
      callbacks: [sig('tasks.mul', [5], { task_id: linked }), sig('tasks.record', ['only mine'], { task_id: frozen }, true)],
    });
    expect(await app.AsyncResult(linked).get({ timeout: 5000 })).toBe(20);
    expect(await app.AsyncResult(frozen).get({ timeout: 5000 })).toEqual(['only mine']);
    const failed = await publish(app, 'tasks.fail', [], { errbacks: [sig('tasks.record', [], { task_id: errback })] });
    expect(await app.AsyncResult(errback).get({ timeout: 5000 })).toEqual([failed]);
  });

  it('a follow-up carries its parent and root, and its own links', async () => {
    const app = mathApp();
    const worker = await startWorker(app);
    const [next, linkedToNext] = [randomUUID(), randomUUID()];
    const started = new Map<string, { parent: unknown; root: unknown }>();
    worker.on('started', (e: { id: string; message: { headers: { parent_id: unknown; root_id: unknown } } }) =>
      started.set(e.id, { parent: e.message.headers.parent_id, root: e.message.headers.root_id }),
    );
    const first = await publish(app, 'tasks.add', [1, 1], {
      chain: [sig('tasks.add', [1], { task_id: next, link: sig('tasks.mul', [10], { task_id: linkedToNext }) })],
    });
    expect(await app.AsyncResult(linkedToNext).get({ timeout: 5000 })).toBe(30);
    expect(started.get(next)).toEqual({ parent: first, root: first });
    expect(started.get(linkedToNext)).toEqual({ parent: next, root: first });
  });

  it('a follow-up that cannot be sent hands the message back: the task runs again and the chain goes on', async () => {
    const app = mathApp();
    const worker = await startWorker(app);
    refuseFollowUps(app, 1);
    const runs: number[] = [];
    worker.on('started', (e: { name: string }) => e.name === 'tasks.add' && runs.push(Date.now()));
    const reported = nextEvent(worker, 'internal-error');
    const next = randomUUID();
    await publish(app, 'tasks.add', [1, 2], { chain: [sig('tasks.mul', [2], { task_id: next })] });
    expect((await reported).during).toBe('sending its follow-ups (the message will come back)');
    expect(await app.AsyncResult(next).get({ timeout: 10_000 })).toBe(6);
    expect(runs).toHaveLength(2);
  });

  it('a follow-up the broker refuses for good fails the task (as in Celery) instead of handing it back forever', async () => {
    const app = mathApp();
    const worker = await startWorker(app);
    refuseFollowUps(app, Number.POSITIVE_INFINITY, () => new MessageTooLarge('the next step is over the limit'));
    let runs = 0;
    worker.on('started', (e: { name: string }) => e.name === 'tasks.add' && runs++);
    const next = randomUUID();
    const id = await publish(app, 'tasks.add', [1, 2], { chain: [sig('tasks.mul', [2], { task_id: next })] });
    await expect(app.AsyncResult(id).get({ timeout: 5000 })).rejects.toMatchObject({
      name: 'MessageTooLarge',
      message: 'the next step is over the limit',
    });
    expect(runs).toBe(1);
    // The step never sent fails with it, as every later step of a failed chain does (mark_as_failure).
    expect(await app.AsyncResult(next).get({ timeout: 1000, propagate: false })).toMatchObject({ name: 'MessageTooLarge' });
  });

  it("a failing step sent with ignore_result still fails the rest of its chain: Celery's store_errors follows the task, not the call", async () => {
    const app = mathApp();
    await startWorker(app);
    const last = randomUUID();
    await publish(app, 'tasks.fail', [], { chain: [sig('tasks.add', [10], { task_id: last })] }, { ignore_result: true });
    expect(await app.AsyncResult(last).get({ timeout: 5000, propagate: false })).toMatchObject({ name: 'Error', message: 'broken' });
  });

  it("a task's result lists what it sent on as its children, as Celery's meta does (AsyncResult.children, collect())", async () => {
    const app = mathApp();
    await startWorker(app);
    const next = randomUUID();
    const group = randomUUID();
    const members = [randomUUID(), randomUUID()];
    const first = await publish(app, 'tasks.add', [1, 2], {
      chain: [sig('tasks.mul', [2], { task_id: next })],
      callbacks: [
        {
          ...sig('celery.group', []),
          kwargs: { tasks: members.map((id) => sig('tasks.mul', [1], { task_id: id, group_id: group })) },
          options: { task_id: group },
          subtask_type: 'group',
        },
      ],
    });
    expect(await app.AsyncResult(next).get({ timeout: 5000 })).toBe(6);
    const meta = await (await app.backend()).get(first);
    expect(meta?.children).toEqual([
      [[group, null], members.map((id) => [[id, null], null])],
      [[next, null], null],
    ]);
  });

  it('a callback linked without a task id (an unfrozen signature, as Python writes link=) gets one, and is listed among the children', async () => {
    const app = mathApp();
    const worker = await startWorker(app);
    const ran: string[] = [];
    worker.on('succeeded', (e) => ran.push(e.id));
    const first = await publish(app, 'tasks.add', [1, 2], { callbacks: [sig('tasks.mul', [10])] });
    await until(() => ran.length === 2, 5000, 'the task and its callback');
    const meta = await (await app.backend()).get(first);
    const callback = ran.find((id) => id !== first) as string;
    expect(meta?.children).toEqual([[[callback, null], null]]);
    expect(await app.AsyncResult(callback).get({ timeout: 5000 })).toBe(30);
  });

  it("a task sent with shadow= is shown under that name in the worker's lines, its received event (which keeps the real name too) and stats", async () => {
    const app = mathApp();
    const lines: string[] = [];
    const worker = await startWorker(app, { logger: createLogger({ level: 'info', write: (line) => lines.push(line) }) });
    const received = nextEvent(worker, 'received');
    const id = await publish(app, 'tasks.add', [2, 2], {}, { shadow: 'reports.nightly[acme]' });
    expect(await received).toMatchObject({ id, name: 'tasks.add', shadow: 'reports.nightly[acme]' });
    expect(await app.AsyncResult(id).get({ timeout: 5000 })).toBe(4);
    await until(() => lines.some((l) => l.includes('succeeded')), 5000, 'the succeeded line');
    expect(lines.filter((l) => l.includes(id)).map((l) => /Task (\S+)\[/.exec(l)?.[1])).toEqual([
      'reports.nightly[acme]',
      'reports.nightly[acme]',
    ]);
    // inspect stats' total counts it under that name too, as Celery's worker does.
    const [stats] = (await app.control.inspect('stats', { timeout: 500 })) as Array<Record<string, { total: Record<string, number> }>>;
    expect(stats?.['w1@test']?.total).toEqual({ 'reports.nightly[acme]': 1 });
  });

  it("a chain's next step is sent with its signature's options, as Celery's apply_async sends them (expires, ignore_result, time limits)", async () => {
    const app = mathApp();
    const worker = await startWorker(app);
    const expired = randomUUID();
    const past = new Date(Date.now() - 60_000).toISOString();
    await publish(app, 'tasks.add', [1, 2], { chain: [sig('tasks.mul', [2], { task_id: expired, expires: past })] });
    expect(await app.AsyncResult(expired).get({ timeout: 5000, propagate: false })).toMatchObject({ name: 'TaskRevokedError' });
    const quiet = randomUUID();
    const ran = new Promise<void>((resolve) => worker.on('succeeded', (e: { id: string }) => e.id === quiet && resolve()));
    await publish(app, 'tasks.add', [1, 2], { chain: [sig('tasks.mul', [2], { task_id: quiet, ignore_result: true, time_limit: 30 })] });
    await ran;
    expect(await app.AsyncResult(quiet).ready()).toBe(false);
  });

  it('a signature whose options are not an object is reported; the task still succeeds', async () => {
    const app = mathApp();
    const worker = await startWorker(app);
    const reported = nextEvent(worker, 'internal-error');
    // Read as an object, 'x'.link would be String.prototype.link, a function.
    const id = await publish(app, 'tasks.add', [1, 2], { callbacks: [{ ...sig('tasks.mul', [2]), options: 'x' }] });
    expect(((await reported).error as Error).message).toBe(
      'a link callback for tasks.mul whose args, kwargs or options are malformed was not followed',
    );
    expect(await app.AsyncResult(id).get({ timeout: 5000 })).toBe(3);
  });

  it('a chain ending in a group sends each member with the result, under the group id and index the client froze', async () => {
    const app = mathApp();
    const worker = await startWorker(app);
    const groups = new Map<string, unknown>();
    worker.on('started', (e: { id: string; message: { headers: { group: unknown; group_index: unknown } } }) =>
      groups.set(e.id, [e.message.headers.group, e.message.headers.group_index]),
    );
    const [groupId, double, triple] = [randomUUID(), randomUUID(), randomUUID()];
    const group = {
      ...sig('celery.group', [], { task_id: groupId }),
      kwargs: {
        tasks: [sig('tasks.mul', [2], { task_id: double, group_index: 0 }), sig('tasks.mul', [3], { task_id: triple, group_index: 1 })],
      },
      subtask_type: 'group',
    };
    await publish(app, 'tasks.add', [1, 1], { chain: [group] });
    expect(await app.AsyncResult(double).get({ timeout: 5000 })).toBe(4);
    expect(await app.AsyncResult(triple).get({ timeout: 5000 })).toBe(6);
    expect([groups.get(double), groups.get(triple)]).toEqual([
      [groupId, 0],
      [groupId, 1],
    ]);
  });

  it('a group followed by more steps (which a Celery client sends as a chord) is reported, not run out of order', async () => {
    const app = mathApp();
    const worker = await startWorker(app);
    const reported = nextEvent(worker, 'internal-error');
    const [earlier, member] = [randomUUID(), randomUUID()];
    const group = { ...sig('celery.group', []), kwargs: { tasks: [sig('tasks.mul', [2], { task_id: member })] }, subtask_type: 'group' };
    const id = await publish(app, 'tasks.add', [1, 1], { chain: [sig('tasks.mul', [2], { task_id: earlier }), group] });
    expect((await reported).error).toMatchObject({
      message: 'the chain’s next step of type group followed by more steps (a Celery client sends those as a chord) was not followed',
    });
    expect(await app.AsyncResult(id).get({ timeout: 5000 })).toBe(2);
    expect([await app.AsyncResult(earlier).ready(), await app.AsyncResult(member).ready()]).toEqual([false, false]);
  });

  it('a chain nesting chains thousands deep is reported, not a stack overflow that would bring the message back forever', async () => {
    const app = mathApp();
    const worker = await startWorker(app);
    const reported = nextEvent(worker, 'internal-error');
    let step = '{"task": "tasks.mul", "args": [2]}';
    for (let i = 0; i < 8000; i++) step = `{"task": "celery.chain", "kwargs": {"tasks": [${step}]}, "subtask_type": "chain"}`;
    const id = await publish(app, 'tasks.add', [1, 1], `{"callbacks": null, "errbacks": null, "chain": [${step}], "chord": null}`);
    expect(((await reported).error as Error).message).toBe('the first step of a chain, nested more than 16 deep was not followed');
    expect(await app.AsyncResult(id).get({ timeout: 5000 })).toBe(2);
  });

  it('a chord without a result backend is reported, never dropped silently; the task itself still runs', async () => {
    const app = mathApp({ backend: undefined });
    const worker = await startWorker(app);
    const reported = nextEvent(worker, 'internal-error');
    const ran = nextEvent(worker, 'succeeded');
    const id = await publish(app, 'tasks.add', [1, 1], { chord: sig('tasks.mul', [2]) }, { group: randomUUID(), group_index: 0 });
    const e = await reported;
    expect([e.id, e.during]).toEqual([id, 'following the task']);
    expect((e.error as Error).message).toMatch(
      /^its chord \(the result backend disabled:\/\/ cannot keep chords: .*set result_backend .*\) was not followed$/,
    );
    expect(await ran).toMatchObject({ id, result: 2 });
  });

  it('a chord header task without a group id is reported', async () => {
    const app = mathApp();
    const worker = await startWorker(app);
    const reported = nextEvent(worker, 'internal-error');
    await publish(app, 'tasks.add', [1, 1], { chord: sig('tasks.mul', [2]) });
    expect(((await reported).error as Error).message).toBe(
      'its chord (the message has no group id to count its header by) was not followed',
    );
  });
});
