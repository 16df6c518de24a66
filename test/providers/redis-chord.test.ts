/**
 * Chords on redis:// as Celery's Redis backend keeps them (DB 5 only, flushed here): header
 * tasks sent as a Python client sends them — group id and index, the body in the embed, the
 * header size in `celery-taskset-meta-<group>.s` — run on a celeriac worker, whose last part
 * sends the body with every result in header order, or fails it with ChordError.
 */
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../../core/index.js';
import { closeAppsAndWorkers, nextEvent, startWorker, testApp, until } from '../core/helpers.js';
import { publishFromPython, refuseFollowUps, sig } from '../support/python-canvas.js';

const DB = 5;
const url = `redis://127.0.0.1:6379/${DB}`;
const raw = new Redis(url);

beforeAll(() => raw.flushdb());
afterEach(closeAppsAndWorkers);
afterAll(() => raw.quit());

function chordApp(brokerQuery = ''): App {
  const app = testApp({ broker: `${url}${brokerQuery}`, backend: url });
  app.task('tasks.add', (x: number, y: number) => x + y);
  app.task('tasks.fail', (why: string) => {
    throw new RangeError(why);
  });
  app.task('tasks.record', (...args: unknown[]) => args.slice(0, -1)); // the context comes last
  app.task('tasks.text', (length: number) => 'x'.repeat(length));
  return app;
}

/** What `chord(header, body).apply_async()` does in Python: the size first, then each header task (in `order`; an index twice sends that task twice, under one id). */
async function sendChord(app: App, header: Array<[string, unknown[]]>, body: ReturnType<typeof sig>, order = header.map((_, i) => i)) {
  const group = randomUUID();
  await raw.set(`celery-taskset-meta-${group}.s`, header.length);
  const ids: string[] = [];
  for (const i of order) {
    const [name, args] = header[i] as [string, unknown[]];
    ids[i] = await publishFromPython(app, name, args, { chord: body }, { group, group_index: i, ...(ids[i] && { id: ids[i] }) });
  }
  return { group, ids };
}

/**
 * chord([chain(first, add.s(10)), add.s(2, 2)], record.s()) as Python's client sends it: the
 * chain's last step is the header member, with the group and the body in its options.
 */
async function sendChordWithChainInHeader(app: App, [name, args]: [string, unknown[]]) {
  const bodyId = randomUUID();
  const lastStep = randomUUID();
  const group = randomUUID();
  const body = sig('tasks.record', [], { task_id: bodyId });
  await raw.set(`celery-taskset-meta-${group}.s`, 2);
  await publishFromPython(app, name, args, {
    chain: [sig('tasks.add', [10], { task_id: lastStep, group_id: group, group_index: 0, chord: body })],
  });
  await publishFromPython(app, 'tasks.add', [2, 2], { chord: body }, { group, group_index: 1 });
  return { bodyId, lastStep };
}

describe('chords from Python clients on redis://', () => {
  it('the body gets the header results in header order, whatever order they finish in; the keys go once it is sent', async () => {
    const app = chordApp();
    await startWorker(app, { concurrency: 4 });
    const bodyId = randomUUID();
    const { group } = await sendChord(
      app,
      [
        ['tasks.add', [1, 1]],
        ['tasks.add', [2, 2]],
        ['tasks.add', [3, 3]],
      ],
      sig('tasks.record', ['tail'], { task_id: bodyId }),
      [2, 0, 1],
    );
    expect(await app.AsyncResult(bodyId).get({ timeout: 10_000 })).toEqual([[2, 4, 6], 'tail']);
    expect(await raw.exists(`celery-taskset-meta-${group}.j`, `celery-taskset-meta-${group}.s`)).toBe(0);
  });

  it('a failed part fails the body with ChordError and calls its errbacks with its id', async () => {
    const app = chordApp();
    await startWorker(app);
    const [bodyId, errbackId] = [randomUUID(), randomUUID()];
    const { ids } = await sendChord(
      app,
      [
        ['tasks.add', [1, 1]],
        ['tasks.fail', ['out of range']],
      ],
      sig('tasks.record', [], { task_id: bodyId, link_error: [sig('tasks.record', [], { task_id: errbackId })] }),
    );
    expect(await app.AsyncResult(errbackId).get({ timeout: 10_000 })).toEqual([bodyId]);
    const failure = await app
      .AsyncResult(bodyId)
      .get({ timeout: 5000 })
      .catch((e: Error) => e);
    expect(failure).toMatchObject({ name: 'ChordError', message: `Dependency ${ids[1]} raised RangeError('out of range')` });
  });

  it('parts finishing together on a busy worker send the body once; a part delivered twice counts once', async () => {
    const app = chordApp();
    const worker = await startWorker(app, { concurrency: 8 });
    const bodyRuns: string[] = [];
    worker.on('started', (e: { name: string; id: string }) => e.name === 'tasks.record' && bodyRuns.push(e.id));
    const bodyId = randomUUID();
    const header = Array.from({ length: 24 }, (_, i): [string, unknown[]] => ['tasks.add', [i, 0]]);
    // The first task twice (a redelivery): were it counted twice, the body would go out one part short.
    const order = [0, ...header.map((_, i) => i)];
    const { group } = await sendChord(app, header, sig('tasks.record', [], { task_id: bodyId }), order);
    expect(await app.AsyncResult(bodyId).get({ timeout: 15_000 })).toEqual([header.map((_, i) => i)]);
    expect(bodyRuns).toEqual([bodyId]);
    expect(await raw.exists(`celery-taskset-meta-${group}.j`)).toBe(0);
  });

  it('a body that cannot be sent hands the completing part back: it runs again and sends the body then', async () => {
    const app = chordApp();
    const worker = await startWorker(app);
    refuseFollowUps(app, 1);
    const handedBack = nextEvent(worker, 'internal-error');
    const bodyId = randomUUID();
    const { group } = await sendChord(
      app,
      [
        ['tasks.add', [1, 2]],
        ['tasks.add', [3, 4]],
      ],
      sig('tasks.record', [], { task_id: bodyId }),
    );
    expect((await handedBack).during).toBe('storing the result (the message will come back)');
    expect(await app.AsyncResult(bodyId).get({ timeout: 15_000 })).toEqual([[3, 7]]);
    expect(await raw.exists(`celery-taskset-meta-${group}.j`, `celery-taskset-meta-${group}.s`)).toBe(0);
  });

  it('a chain whose next step is a chord starts it: size recorded, header tasks get the result, a chain as body goes on', async () => {
    const app = chordApp();
    await startWorker(app, { concurrency: 4 });
    const [groupId, bodyId, lastId] = [randomUUID(), randomUUID(), randomUUID()];
    // chain(add(1, 2), chord([add(10), add(20)], record('x') | record())) as Celery's client sends it.
    const header = {
      ...sig('celery.group', [], { task_id: groupId }),
      kwargs: { tasks: [sig('tasks.add', [10], { group_index: 0 }), sig('tasks.add', [20], { group_index: 1 })] },
      subtask_type: 'group',
    };
    const body = {
      ...sig('celery.chain', []),
      kwargs: { tasks: [sig('tasks.record', ['x'], { task_id: bodyId }), sig('tasks.record', [], { task_id: lastId })] },
      subtask_type: 'chain',
    };
    const chord = { ...sig('celery.chord', [], { task_id: groupId }), kwargs: { kwargs: {}, header, body }, subtask_type: 'chord' };
    await publishFromPython(app, 'tasks.add', [1, 2], { chain: [chord] });
    expect(await app.AsyncResult(bodyId).get({ timeout: 10_000 })).toEqual([[13, 23], 'x']);
    expect(await app.AsyncResult(lastId).get({ timeout: 10_000 })).toEqual([[[13, 23], 'x']]);
    expect(await raw.exists(`celery-taskset-meta-${groupId}.j`, `celery-taskset-meta-${groupId}.s`)).toBe(0);
  });

  it('a chord with an empty header runs its body at once with []', async () => {
    const app = chordApp();
    await startWorker(app);
    const bodyId = randomUUID();
    const chord = {
      ...sig('celery.chord', []),
      kwargs: { header: [], body: sig('tasks.record', [], { task_id: bodyId }) },
      subtask_type: 'chord',
    };
    await publishFromPython(app, 'tasks.add', [1, 2], { chain: [chord] });
    expect(await app.AsyncResult(bodyId).get({ timeout: 10_000 })).toEqual([[]]);
  });

  it('a body the broker refuses for good (the results make it too large) fails with ChordError, once', async () => {
    const app = chordApp('?max_message_size=8000');
    await startWorker(app);
    const bodyId = randomUUID();
    await sendChord(
      app,
      [
        ['tasks.text', [3000]],
        ['tasks.text', [3000]],
        ['tasks.text', [3000]],
      ],
      sig('tasks.record', [], { task_id: bodyId }),
    );
    const failure = await app
      .AsyncResult(bodyId)
      .get({ timeout: 10_000 })
      .catch((e: Error) => e);
    expect(failure).toMatchObject({ name: 'ChordError' });
    expect((failure as Error).message).toMatch(
      /^Callback error: MessageTooLarge\('Task tasks\.record\[[0-9a-f-]{36}\] is \d+ bytes as a message, over the limit of 8000 bytes/,
    );
  });

  it("a chord followed by more chain steps hands them to its body (a task or a chain), as Celery's chord.run does", async () => {
    const app = chordApp();
    await startWorker(app, { concurrency: 2 });
    // chain(add.s(1, 1), group(add.s(10), add.s(20)), BODY, group(record.s(), record.s())) as Python's
    // client sends it: the first group and BODY become a chord, the last group follows it.
    const send = async (body: Record<string, unknown>) => {
      const members = [randomUUID(), randomUUID()];
      const after = {
        ...sig('celery.group', []),
        kwargs: { tasks: members.map((id) => sig('tasks.record', [], { task_id: id })) },
        options: { task_id: randomUUID() },
        subtask_type: 'group',
      };
      const header = {
        ...sig('celery.group', []),
        kwargs: { tasks: [sig('tasks.add', [10]), sig('tasks.add', [20])] },
        options: { task_id: randomUUID() },
        subtask_type: 'group',
      };
      const theChord = { ...sig('celery.chord', []), kwargs: { header, body }, subtask_type: 'chord' };
      await publishFromPython(app, 'tasks.add', [1, 1], { chain: [after, theChord] });
      return Promise.all(members.map((id) => app.AsyncResult(id).get({ timeout: 10_000 })));
    };
    expect(await send(sig('tasks.record', []))).toEqual([[[[12, 22]]], [[[12, 22]]]]);
    const twoSteps = {
      ...sig('celery.chain', []),
      kwargs: { tasks: [sig('tasks.record', []), sig('tasks.record', [])] },
      subtask_type: 'chain',
    };
    expect(await send(twoSteps)).toEqual([[[[[12, 22]]]], [[[[12, 22]]]]]);
  });

  it("a chain in the header completes the chord: its last step is sent with the chord and group its signature's options carry", async () => {
    const app = chordApp();
    await startWorker(app, { concurrency: 2 });
    const { bodyId } = await sendChordWithChainInHeader(app, ['tasks.add', [1, 1]]);
    expect(await app.AsyncResult(bodyId).get({ timeout: 10_000 })).toEqual([[12, 4]]);
  });

  it('a chain in the header whose first step fails adds the part of the step that never ran: the body fails instead of waiting', async () => {
    const app = chordApp();
    await startWorker(app, { concurrency: 2 });
    const { bodyId, lastStep } = await sendChordWithChainInHeader(app, ['tasks.fail', ['first']]);
    const failure = await app
      .AsyncResult(bodyId)
      .get({ timeout: 10_000 })
      .catch((e: Error) => e);
    expect(failure).toMatchObject({ name: 'ChordError', message: `Dependency ${lastStep} raised RangeError('first')` });
    expect(await app.AsyncResult(lastStep).get({ timeout: 1000, propagate: false })).toMatchObject({ name: 'RangeError' });
  });

  it('in that list too a task has one part: one that ran again (its ack lost) does not complete the chord early', async () => {
    const app = chordApp();
    const chords = (await app.backend()).chords;
    const group = randomUUID();
    // Python's json writes ', ' between items: its part for task b, in unordered mode.
    await raw.rpush(`celery-taskset-meta-${group}.j`, '[1, "b", "SUCCESS", 2]');
    await raw.set(`celery-taskset-meta-${group}.s`, 3);
    const part = (taskId: string, result: number) => ({ groupId: group, taskId, groupIndex: null, state: 'SUCCESS', result });
    expect(await chords?.addPart(part('b', 20))).toBeUndefined();
    expect(await chords?.addPart(part('a', 1))).toBeUndefined();
    expect((await chords?.addPart(part('c', 3)))?.map((p) => p.result)).toEqual([2, 1, 3]);
  });

  it("a chain whose step fails before a chord fails the chord's body and the steps after it, and calls the body's errbacks not run already", async () => {
    const app = chordApp();
    const calls: unknown[][] = [];
    app.task('tasks.noted', (...args: unknown[]) => void calls.push(args.slice(0, -1)));
    await startWorker(app, { concurrency: 1 });
    // chain(fail.s('first'), chord(header, total.s()), add.s(1)).on_error(noted.s('chain')), with
    // noted.s('body') on the chord too, as Python's client sends it: the chain's errback is on
    // every step, and the chord's body is a chain going on with the step after it.
    const [bodyId, afterId] = [randomUUID(), randomUUID()];
    const onChain = sig('tasks.noted', ['chain']);
    const header = {
      ...sig('celery.group', []),
      kwargs: { tasks: [sig('tasks.add', [1]), sig('tasks.add', [2])] },
      options: { task_id: randomUUID() },
      subtask_type: 'group',
    };
    const body = {
      ...sig('celery.chain', [], { link_error: [onChain, sig('tasks.noted', ['body'])] }),
      kwargs: { tasks: [sig('tasks.record', [], { task_id: bodyId }), sig('tasks.add', [1], { task_id: afterId })] },
      subtask_type: 'chain',
    };
    const theChord = { ...sig('celery.chord', [], { task_id: header.options.task_id }), kwargs: { header, body }, subtask_type: 'chord' };
    const failedId = await publishFromPython(app, 'tasks.fail', ['first'], { chain: [theChord], errbacks: [onChain] });
    for (const id of [bodyId, afterId]) {
      await expect(app.AsyncResult(id).get({ timeout: 10_000 })).rejects.toMatchObject({ name: 'RangeError', message: 'first' });
    }
    // One worker slot runs them in the order sent: the body's errback went out after any second call of the chain's.
    await until(() => calls.some(([id]) => id === bodyId), 10_000, "the body's errback");
    expect(calls).toEqual([
      [failedId, 'chain'],
      [bodyId, 'body'],
    ]);
  });

  it("joins the list Celery keeps with result_chord_ordered off instead of failing on the key's type", async () => {
    const app = chordApp();
    await startWorker(app);
    const bodyId = randomUUID();
    const group = randomUUID();
    // A Python worker in unordered mode got there first: its part is in a list.
    await raw.rpush(`celery-taskset-meta-${group}.j`, JSON.stringify([1, randomUUID(), 'SUCCESS', 100]));
    await raw.set(`celery-taskset-meta-${group}.s`, 2);
    await publishFromPython(app, 'tasks.add', [1, 1], { chord: sig('tasks.record', [], { task_id: bodyId }) }, { group, group_index: 1 });
    expect(await app.AsyncResult(bodyId).get({ timeout: 10_000 })).toEqual([[100, 2]]);
  });
});
