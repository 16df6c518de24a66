/** Bad input is dead-lettered with its reason and the worker keeps going; remote control replies. */
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { App } from '../../core/app.js';
import type { ControlOptions } from '../../core/control.js';
import { ConfigError, type RemoteTaskError } from '../../core/errors.js';
import { type KeyValueResultBackend, resultKey } from '../../core/kv-result-backend.js';
import { createLogger } from '../../core/log.js';
import { encodeEnvelope } from '../../core/envelope.js';
import { buildTaskMessage } from '../../core/message-builder.js';
import type { Broker } from '../../core/ports.js';
import type { TaskContext } from '../../core/task-context.js';
import type { Worker } from '../../core/worker/worker.js';
import { closeAppsAndWorkers, gate, memoryApp, nextEvent, startWorker } from './helpers.js';

let app: App;
let worker: Worker | undefined;

afterEach(closeAppsAndWorkers);

function withAdd(a: App) {
  return a.task(function add(x: number, y: number) {
    return x + y;
  });
}

function message(name: string, queue = 'celery') {
  return buildTaskMessage({
    name,
    args: [1, 2],
    kwargs: {},
    queue,
    call: {},
    task: {},
    defaults: { ignoreResult: false, priority: null, timeLimit: null, softTimeLimit: null },
    replyTo: 'test',
  });
}

async function deadLetters(a: App) {
  const broker = (await a.broker()) as Broker;
  return (await broker.deadLetters?.()) ?? [];
}

/** What get() rejects with for task `id` once `stored` is the text under its result key (written as another program could). */
async function getAfterStoring(app: App, id: string, stored: string): Promise<Error> {
  const backend = (await app.backend()) as KeyValueResultBackend;
  await backend.kv.put(resultKey(id), stored, { ready: true, keepReady: false });
  return (await app
    .AsyncResult(id)
    .get({ timeout: 5000 })
    .catch((e: unknown) => e)) as Error;
}

describe('bad input', () => {
  it('an unknown task is stored as FAILURE NotRegistered, dead-lettered with the reason, and the worker keeps running', async () => {
    app = memoryApp();
    const add = withAdd(app);
    worker = await startWorker(app);
    const rejectedSoon = nextEvent(worker, 'rejected');
    const r = await app.sendTask('tasks.nope', []);
    const rejected = await rejectedSoon;
    expect(rejected.reason).toContain("unknown task 'tasks.nope'");
    const err = (await r.get({ timeout: 5000 }).catch((e: unknown) => e)) as RemoteTaskError;
    expect(err.name).toBe('NotRegistered');
    expect(err.message).toContain("'tasks.nope' is not registered");
    expect((await deadLetters(app)).map((d) => d.reason)).toEqual([rejected.reason]);
    expect(await (await add.delay(1, 1)).get({ timeout: 5000 })).toBe(2);
  });

  it('a content type not in accept_content is dead-lettered, its FAILURE stored for whoever waits', async () => {
    app = memoryApp();
    const add = withAdd(app);
    worker = await startWorker(app);
    const m = { ...message('tasks.add'), contentType: 'application/x-python-serialize' };
    const rejectedSoon = nextEvent(worker, 'rejected');
    await (await app.broker()).publish('celery', [m]);
    const rejected = await rejectedSoon;
    expect(rejected.reason).toContain("content type 'application/x-python-serialize' is not in accept_content");
    const error = (await app.AsyncResult(m.headers.id).get({ timeout: 5000, propagate: false })) as Error;
    expect(error.name).toBe('ContentDisallowed');
    expect(error.message).toMatch(/^Refusing to deserialize untrusted content: content type 'application\/x-python-serialize'/);
    expect(await (await add.delay(2, 2)).get({ timeout: 5000 })).toBe(4);
  });

  it('a refused message sent with ignore_result still has its FAILURE stored, as Celery stores an unknown task’s whatever the header says', async () => {
    app = memoryApp();
    worker = await startWorker(app);
    const broker = (await app.broker()) as Broker & { publishRaw(q: string, raws: { body: string }[]): Promise<void> };
    const failureOf = async (id: string) => (await app.AsyncResult(id).get({ timeout: 5000, propagate: false })) as RemoteTaskError;
    const unknown = await app.sendTask('tasks.nope', [], {}, { ignoreResult: true });
    expect((await failureOf(unknown.id)).name).toBe('NotRegistered');
    const pickled = { ...message('tasks.add'), contentType: 'application/x-python-serialize' };
    pickled.headers.ignore_result = true;
    await broker.publish('celery', [pickled]);
    expect((await failureOf(pickled.headers.id)).name).toBe('ContentDisallowed');
    // What a Python producer sends with compression='bzip2' (Node has no codec): refused before its body is read.
    const bzip2 = message('tasks.add');
    const envelope = JSON.parse(encodeEnvelope(bzip2));
    envelope.headers.ignore_result = true;
    envelope.headers.compression = 'application/x-bz2';
    await broker.publishRaw('celery', [{ body: JSON.stringify(envelope) }]);
    expect((await failureOf(bzip2.headers.id)).name).toBe('MalformedMessage');
  });

  it('a pickle task from a Python producer (a body that is not text) fails with ContentDisallowed, not as malformed', async () => {
    app = memoryApp();
    const add = withAdd(app);
    worker = await startWorker(app);
    const m = message('tasks.add');
    const env = JSON.parse(encodeEnvelope(m));
    env['content-type'] = 'application/x-python-serialize';
    env['content-encoding'] = 'binary';
    // pickle.dumps(((2, 3), {}, embed), protocol=4) from Celery 5.2: its bytes are not UTF-8.
    env.body = 'gASVOgAAAAAAAABLAksDhpR9lH2UKIwJY2FsbGJhY2tzlE6MCGVycmJhY2tzlE6MBWNoYWlulE6MBWNob3JklE51h5Qu';
    const broker = (await app.broker()) as Broker & { publishRaw(q: string, raws: { body: string }[]): Promise<void> };
    const rejectedSoon = nextEvent(worker, 'rejected');
    await broker.publishRaw('celery', [{ body: JSON.stringify(env) }]);
    const rejected = await rejectedSoon;
    expect(rejected.reason).toContain("content type 'application/x-python-serialize' is not in accept_content [json] (ContentDisallowed)");
    const error = (await app.AsyncResult(m.headers.id).get({ timeout: 5000, propagate: false })) as Error;
    expect(error.name).toBe('ContentDisallowed');
    expect(await (await add.delay(2, 3)).get({ timeout: 5000 })).toBe(5);
  });

  it('a malformed envelope and a malformed body are dead-lettered with their reasons', async () => {
    app = memoryApp();
    const add = withAdd(app);
    worker = await startWorker(app);
    const broker = (await app.broker()) as Broker & { publishRaw(q: string, raws: string[]): Promise<void> };
    const firstRejected = nextEvent(worker, 'rejected');
    await broker.publishRaw('celery', ['this is not an envelope']);
    const first = await firstRejected;
    expect(first.reason).toMatch(/^malformed message/);
    const secondRejected = nextEvent(worker, 'rejected');
    await broker.publish('celery', [{ ...message('tasks.add'), body: '[1, 2' }]);
    const second = await secondRejected;
    expect(second.reason).toMatch(/^malformed message: body is not (valid )?JSON/);
    expect(await deadLetters(app)).toHaveLength(2);
    expect(await (await add.delay(3, 3)).get({ timeout: 5000 })).toBe(6);
  });

  it('a message whose task id and name can be read, but not the rest, stores that reason as its FAILURE, so get() does not wait forever', async () => {
    app = memoryApp();
    worker = await startWorker(app);
    const broker = (await app.broker()) as Broker & { publishRaw(q: string, raws: { body: string }[]): Promise<void> };
    /** Publishes a tasks.add envelope as `change` leaves it; resolves with the message's id. */
    const send = async (change: (envelope: { headers: Record<string, unknown>; body: unknown }) => void): Promise<string> => {
      const m = message('tasks.add');
      const envelope = JSON.parse(encodeEnvelope(m));
      change(envelope);
      await broker.publishRaw('celery', [{ body: JSON.stringify(envelope) }]);
      return m.headers.id;
    };
    const failureOf = async (id: string) => (await app.AsyncResult(id).get({ timeout: 5000, propagate: false })) as RemoteTaskError;
    // What a Python producer sends with compression='bzip2': Node has no bzip2 codec.
    const error = await failureOf(await send((e) => (e.headers.compression = 'application/x-bz2')));
    expect(error.name).toBe('MalformedMessage');
    expect(error.message).toBe('malformed message: unsupported compression "application/x-bz2"');
    // Task protocol 1 (Celery's task_protocol = 1): headers {}, the task and its id in the body.
    await send((e) => {
      e.headers = {};
      e.body = Buffer.from(JSON.stringify({ task: 'tasks.add', id: 'v1-id', args: [1, 2] })).toString('base64');
    });
    const old = await failureOf('v1-id');
    expect(old.message).toMatch(/only task protocol 2 is supported/);
    // Another header is wrong, but the id and the task name can be read.
    const retries = await failureOf(await send((e) => (e.headers.retries = 'twice')));
    expect(retries.message).toBe('malformed message: headers.retries must be a non-negative integer, got "twice"');
    expect(await deadLetters(app)).toHaveLength(3);
  });

  it('a call missing arguments fails with TypeError, as in Python, instead of giving the TaskContext as data', async () => {
    app = memoryApp();
    withAdd(app);
    app.task('tasks.scale', (x: number, factor: number, ctx: TaskContext) => `${ctx.id}:${x * factor}`);
    worker = await startWorker(app);
    // What Python's send_task('tasks.add', kwargs={'x': 1, 'y': 2}) sends: no args.
    const byKeywords = await app.sendTask('tasks.add', [], { x: 1, y: 2 });
    const error = (await byKeywords.get({ timeout: 5000, propagate: false })) as RemoteTaskError;
    expect(error.name).toBe('TypeError');
    expect(error.message).toBe(
      'tasks.add() missing 1 required positional argument: it takes 2 parameters (its TaskContext may be the last) and was given 0 args; ' +
        'keyword arguments (x, y) reach a task as ctx.kwargs, not as its parameters: send them as args',
    );
    const short = await app.sendTask('tasks.scale', [2]);
    await expect(short.get({ timeout: 5000 })).rejects.toThrow(
      /^tasks\.scale\(\) missing 1 required positional argument: it takes 3 parameters/,
    );
    const full = await app.sendTask('tasks.scale', [2, 5]);
    expect(await full.get({ timeout: 5000 })).toBe(`${full.id}:10`);
    // One argument short, the context lands in the last data parameter: using it as a value fails.
    const oneShort = await app.sendTask('tasks.add', [1]);
    await expect(oneShort.get({ timeout: 5000 })).rejects.toThrow(
      'tasks.add() used its TaskContext as a value: it was given fewer arguments than it takes (the context comes after them)',
    );
  });

  it('an argument JSON cannot carry fails at send time', async () => {
    app = memoryApp();
    const echo = app.task('tasks.echo', (v: unknown) => v);
    await expect(echo.delay(new Map())).rejects.toThrow(/args\[0\]/);
  });

  // Plain JavaScript callers get no type check: each of these used to send a message the worker
  // dead-letters, to be ignored silently, or (get) to wait forever.
  it('wrong call options, args and kwargs fail at the call and name what is wrong; nothing is sent', async () => {
    app = memoryApp();
    const add = withAdd(app);
    const send = (args: unknown, kwargs: unknown, options: unknown) => add.applyAsync(args as never, kwargs as never, options as never);
    const cases: [unknown, unknown, unknown, RegExp][] = [
      [[1, 2], {}, { coutndown: 5 }, /'coutndown' is not a call option\. Did you mean 'countdown'\?/],
      [[1, 2], {}, { countdown: Number.NaN }, /countdown: expected seconds from now \(got NaN\)/],
      [[1, 2], {}, { countdown: 1e15 }, /countdown: expected seconds from now/],
      [[1, 2], {}, { eta: 'tomorrow' }, /eta: expected a valid Date \(got "tomorrow"\)/],
      [[1, 2], {}, { eta: new Date('nope') }, /eta: expected a valid Date \(got Invalid Date\)/],
      [[1, 2], {}, { expires: 'soon' }, /expires: expected seconds from now or a valid Date/],
      [[1, 2], {}, { timeLimit: -1 }, /timeLimit: expected seconds > 0 \(got -1\)/],
      [[1, 2], {}, { priority: 10 }, /priority: expected an integer priority 0-9 \(got 10\)/],
      [[1, 2], {}, { queue: '' }, /queue: expected a queue name/],
      [[1, 2], {}, { taskId: 42 }, /taskId: expected a task id/],
      [[1, 2], {}, { headers: { id: 'mine' } }, /headers\.id: celeriac sets this header itself: use the taskId option \(got "mine"\)/],
      [5, {}, {}, /args must be an array of positional arguments, got 5 \(one argument: \[5\]\)/],
      [[1, 2], [3], {}, /kwargs must be an object of keyword arguments, got \[3\]/],
    ];
    for (const [args, kwargs, options, error] of cases) {
      await expect(send(args, kwargs, options), JSON.stringify(options)).rejects.toThrow(error);
    }
    await expect(app.sendTask(undefined as unknown as string, [])).rejects.toThrow(/its name must be a non-empty string/);
    await expect(add.applyMany([[1, 2], 3 as never])).rejects.toThrow(/\(argsList\[1\]\): args must be an array/);
    expect(await (await app.broker()).size?.('celery')).toBe(0);
    // undefined stands for an absent option, as in the settings
    expect((await send([1, 2], undefined, { countdown: undefined, queue: undefined })).id).toMatch(/^[0-9a-f-]{36}$/);
  });

  // Each of these was sent and dead-lettered by the worker (or, compression, failed to decompress);
  // a BigInt or a cycle threw JSON's raw TypeError, a Map was sent as {}.
  it('extra headers celeriac sets, wrong-typed protocol headers and values JSON cannot carry fail at the call', async () => {
    app = memoryApp();
    const add = withAdd(app);
    const send = (headers: Record<string, unknown>) => add.applyAsync([1, 2], {}, { headers });
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ compression: 'application/x-gzip' }, /headers\.compression: celeriac sends the body uncompressed/],
      [{ timelimit: undefined }, /headers\.timelimit: celeriac sets this header itself: use the timeLimit/],
      [{ group: 5 }, /sending tasks\.add: headers\.group: expected a group id \(a string\) or null \(got 5\)/],
      [{ group_index: 'a' }, /headers\.group_index: expected a position in the group \(an integer >= 0\) or null \(got "a"\)/],
      [{ root_id: 7 }, /headers\.root_id: expected a task id \(a non-empty string\) or null \(got 7\)/],
      [{ parent_id: {} }, /headers\.parent_id: expected a task id \(a non-empty string\) or null \(got \{\}\)/],
      [{ shadow: 1 }, /headers\.shadow: expected a name to show for the task/],
      [{ shadow: 10n }, /headers\.shadow: .* \(got 10n\)/],
      [{ x: 10n }, /Cannot send headers\.x as JSON: BigInt 10n/],
      [{ x: new Map() }, /Cannot send headers\.x as JSON: a Map would arrive as \{\}/],
      [{ 'x-trace': cyclic }, /Cannot send headers\["x-trace"\]\.self as JSON: it refers back to headers\["x-trace"\]/],
    ];
    for (const [headers, error] of cases) await expect(send(headers), Object.keys(headers)[0]).rejects.toThrow(error);
    expect(await (await app.broker()).size?.('celery')).toBe(0);
    // What Celery's send_task accepts there is sent as given.
    const headers = { shadow: 'add-shown', group: 'g1', group_index: 0, root_id: 'root', parent_id: null, 'x-trace': [1, 'a'] };
    const started = nextEvent(await startWorker(app), 'started');
    const r = await add.applyAsync([1, 2], {}, { headers });
    expect((await started).message.headers).toMatchObject(headers);
    expect(await r.get({ timeout: 5000 })).toBe(3);
    // Celery's own default: root_id None (the task is then its own root).
    expect(await (await add.applyAsync([2, 2], {}, { headers: { root_id: null } })).get({ timeout: 5000 })).toBe(4);
  });

  it('wrong task options fail at app.task, in camelCase or Celery snake_case names', () => {
    app = memoryApp();
    const define = (options: unknown) => app.task('tasks.t', () => 1, options as never);
    expect(() => define({ timeLimt: 5 })).toThrow(/'timeLimt' is not a task option\. Did you mean 'timeLimit'\?/);
    expect(() => define({ timeLimit: -1 })).toThrow(/timeLimit: expected seconds > 0 \(got -1\)/);
    expect(() => define({ maxRetries: 'x' })).toThrow(/maxRetries: expected a whole number >= 0/);
    expect(() => app.task('', () => 1)).toThrow(/name must be a non-empty string/);
    expect(define({ rate_limit: '5/s', time_limit: 30 }).options).toEqual({ rateLimit: '5/s', timeLimit: 30 });
  });

  it('wrong worker options fail at app.worker() instead of starting a worker that does nothing', async () => {
    app = memoryApp();
    const start = (options: unknown) => app.worker(options as never);
    await expect(start({ concurency: 4 })).rejects.toThrow(/'concurency' is not a worker option\. Did you mean 'concurrency'\?/);
    await expect(start({ concurrency: 0 })).rejects.toThrow(/concurrency: expected a whole number of tasks > 0 \(got 0\)/);
    await expect(start({ queues: 'a,b' })).rejects.toThrow(/queues: expected a non-empty list of queue names/);
    await expect(start({ prefetchMultiplier: -1 })).rejects.toThrow(/prefetchMultiplier: expected a whole number >= 0/);
    expect((await start({ concurrency: 3, queues: undefined })).concurrency).toBe(3);
  });

  it('control commands refuse a missing task name or id and a bad rate before sending anything', async () => {
    app = memoryApp();
    await expect(app.control.revoke(undefined as never)).rejects.toThrow(
      /revoke\(taskId\): expected a task id or a list of task ids, got undefined/,
    );
    await expect(app.control.revoke([])).rejects.toThrow(/expected a task id or a list of task ids, got \[\]/);
    await expect(app.control.rateLimit(undefined as never, '5/s')).rejects.toThrow(/rateLimit\(taskName, \.\.\.\): expected a task name/);
    await expect(app.control.rateLimit('tasks.add', 'fast')).rejects.toThrow(/Invalid rate limit 'fast'/);
    await expect(app.control.timeLimit('tasks.add', { soft: 'x' as never })).rejects.toThrow(
      /timeLimit\('tasks.add'\): soft must be seconds >= 0 or null, got "x"/,
    );
  });

  it('wrong get() options fail at once instead of waiting forever', async () => {
    app = memoryApp();
    const r = await withAdd(app).delay(1, 2);
    await expect(r.get({ timeout: '5' as never })).rejects.toThrow(/get\(options\): timeout: expected milliseconds >= 0 \(got "5"\)/);
    await expect(r.get({ timout: 5 } as never)).rejects.toThrow(/'timout' is not an option\. Did you mean 'timeout'\?/);
  });

  it('whatever a task throws is stored as its failure, readable, and the worker goes on', async () => {
    app = memoryApp();
    const unreadable = new Error('x');
    Object.defineProperty(unreadable, 'message', {
      get() {
        throw new Error('a getter that throws');
      },
    });
    const thrown: [unknown, string][] = [
      ['plain text', 'plain text'],
      [{ code: 42 }, '{"code":42}'],
      [Object.create(null), '[object Object]'],
      [unreadable, 'the task failed with an error that could not be read (Error: a getter that throws)'],
    ];
    const fail = app.task('tasks.fail', (i: number) => {
      throw thrown[i]?.[0];
    });
    worker = await startWorker(app);
    for (const [i, [, message]] of thrown.entries()) {
      const err = (await (await fail.delay(i)).get({ timeout: 5000 }).catch((e: unknown) => e)) as RemoteTaskError;
      expect([err.name, err.message]).toEqual(['Error', message]);
    }
  });

  it('updateState refuses a missing state and meta JSON cannot carry, as a return value is refused', async () => {
    app = memoryApp();
    const progress = app.task('tasks.progress', async (bad: string, ctx: TaskContext) => {
      await ctx.updateState(bad === 'state' ? (undefined as never) : 'PROGRESS', { at: bad === 'meta' ? 10n : 1 });
      return 'done';
    });
    worker = await startWorker(app);
    const failure = async (bad: string) =>
      ((await (await progress.delay(bad)).get({ timeout: 5000 }).catch((e: unknown) => e)) as RemoteTaskError).message;
    expect(await failure('state')).toContain(
      "updateState(state, meta): state must be a non-empty string such as 'PROGRESS', got undefined",
    );
    expect(await failure('meta')).toContain("Cannot send updateState('PROGRESS') meta.at as JSON: BigInt 10n has no JSON form");
    expect(await (await progress.delay('none')).get({ timeout: 5000 })).toBe('done');
  });

  it('an integer beyond 2^53 in the arguments (a Python int) fails the task with the reason instead of reaching it rounded', async () => {
    app = memoryApp();
    app.task('tasks.echo', (a: unknown, b: unknown, c: unknown) => [a, b, c]);
    worker = await startWorker(app);
    const sendBody = async (body: string) => {
      const m = { ...message('tasks.echo'), body };
      await (await app.broker()).publish('celery', [m]);
      return app
        .AsyncResult(m.headers.id)
        .get({ timeout: 5000 })
        .catch((e: unknown) => e as RemoteTaskError);
    };
    const embed = '{"callbacks": null, "errbacks": null, "chain": null, "chord": null}';
    const big = (await sendBody(`[[1, {"id": 12345678901234567890}], {}, ${embed}]`)) as RemoteTaskError;
    expect([big.name, big.message]).toEqual([
      'SerializationError',
      'the integer 12345678901234567890 in the arguments cannot be held exactly by a JavaScript number (it would read as 12345678901234567000: integers are exact only up to 2^53); send it as a string',
    ]);
    const negative = (await sendBody(`[[], {"user_id": -9007199254740993}, ${embed}]`)) as RemoteTaskError;
    expect(negative.message).toMatch(/^the integer -9007199254740993 in the arguments cannot be held exactly/);
    // Long digit runs that are exact: in a string, a float (with a fraction or an exponent), 2^53 - 1, a large even integer a double holds.
    expect(await sendBody(`[["12345678901234567890", 1.2345678901234568e+16, 9007199254740991], {}, ${embed}]`)).toEqual([
      '12345678901234567890',
      12345678901234568,
      9007199254740991,
    ]);
    expect(await sendBody(`[[18014398509481984, null, null], {}, ${embed}]`)).toEqual([2 ** 54, null, null]);
  });

  it('an integer a number would write back as other digits (2^60, a Python 64-bit id) fails the task and is refused by get(), not passed on changed', async () => {
    app = memoryApp();
    app.task('tasks.echo', (a: unknown) => a);
    worker = await startWorker(app);
    const embed = '{"callbacks": null, "errbacks": null, "chain": null, "chord": null}';
    // 2^60 is held exactly but written 1152921504606847000; that text reads as 2^60, not as itself;
    // 10^400 reads as Infinity.
    for (const literal of ['1152921504606846976', '1152921504606847000', `1${'0'.repeat(400)}`]) {
      const m = { ...message('tasks.echo'), body: `[[${literal}], {}, ${embed}]` };
      await (await app.broker()).publish('celery', [m]);
      const err = (await app
        .AsyncResult(m.headers.id)
        .get({ timeout: 5000 })
        .catch((e: unknown) => e)) as RemoteTaskError;
      expect(err.name).toBe('SerializationError');
      expect(err.message).toMatch(new RegExp(`^the integer ${literal} in the arguments cannot be held exactly`));
    }
    const stored = await getAfterStoring(
      app,
      'python-2-60',
      '{"status": "SUCCESS", "result": 1152921504606846976, "task_id": "python-2-60"}',
    );
    expect(stored.message).toMatch(/^the integer 1152921504606846976 in the result of task python-2-60 cannot be held exactly/);
  });

  it('a stored result holding an integer beyond 2^53 (a Python task wrote it) is refused by get(), not read rounded', async () => {
    app = memoryApp();
    const err = await getAfterStoring(
      app,
      'python-wrote-this',
      '{"status": "SUCCESS", "result": {"id": 12345678901234567890}, "task_id": "python-wrote-this"}',
    );
    expect([err.name, err.message]).toEqual([
      'SerializationError',
      'the integer 12345678901234567890 in the result of task python-wrote-this cannot be held exactly by a JavaScript number (it would read as 12345678901234567000: integers are exact only up to 2^53); have the task return it as a string',
    ]);
  });

  it('a value under a result key that is not a result meta is refused by get() saying so, not waited on as PENDING', async () => {
    app = memoryApp();
    for (const [id, stored] of [
      ['a-number', '5'],
      ['a-bare-status', '"SUCCESS"'],
      ['a-numeric-status', '{"status": 5}'],
    ] as const) {
      const err = await getAfterStoring(app, id, stored);
      expect([err.name, err.message]).toEqual([
        'MalformedMessage',
        `The stored result of task ${id} is not a Celery result meta with a status: ${JSON.stringify(JSON.parse(stored))}`,
      ]);
    }
  });

  it('a retry that cannot be scheduled fails the task with the reason instead of coming back forever', async () => {
    app = memoryApp();
    const broken = app.task('tasks.broken', (ctx: TaskContext) => ctx.retry({ countdown: Number.NaN }));
    worker = await startWorker(app);
    const err = (await (await broken.delay()).get({ timeout: 5000 }).catch((e: unknown) => e)) as RemoteTaskError;
    expect(err.name).toBe('ConfigError');
    expect(err.message).toContain('tasks.broken: retry(): countdown: expected seconds from now (got NaN)');
  });
});

describe('remote control', () => {
  it('ping answers pong from each worker', async () => {
    app = memoryApp();
    withAdd(app);
    worker = await startWorker(app);
    expect(await app.control.ping({ timeout: 300 })).toEqual([{ 'w1@test': { ok: 'pong' } }]);
  });

  it('control options are checked as get() options are: timeout (ms, as get() takes it) and destination', async () => {
    app = memoryApp();
    const started = Date.now();
    expect(await app.control.ping({ timeout: 300 })).toEqual([]);
    expect(Date.now() - started).toBeLessThan(900); // not the default 1000 ms
    const misspelled = { timeoutMs: 300 } as unknown as ControlOptions;
    await expect(app.control.ping(misspelled)).rejects.toThrow(
      "app.control.ping(options): 'timeoutMs' is not an option. Did you mean 'timeout'? Options: timeout, destination.",
    );
    await expect(app.control.revoke('some-id', misspelled)).rejects.toBeInstanceOf(ConfigError);
    await expect(app.control.inspect('stats', { destination: 'w1@test' } as unknown as ControlOptions)).rejects.toThrow(
      'app.control.inspect(options): destination: expected a list of worker names such as [\'worker1@host\'] (got "w1@test")',
    );
  });

  it("rate_limit answers as Celery's worker does and takes effect", async () => {
    app = memoryApp();
    withAdd(app);
    worker = await startWorker(app);
    expect(await app.control.rateLimit('tasks.add', '10/m', { timeout: 300 })).toEqual([
      { 'w1@test': { ok: 'new rate limit set successfully' } },
    ]);
    expect(worker.rateLimiter.get('tasks.add')).toBeCloseTo(10 / 60);
    expect(await app.control.rateLimit('tasks.add', null, { timeout: 300 })).toEqual([
      { 'w1@test': { ok: 'rate limit disabled successfully' } },
    ]);
    expect(worker.rateLimiter.get('tasks.add')).toBeNull();
    expect(await app.control.rateLimit('tasks.nope', '1/s', { timeout: 300 })).toEqual([{ 'w1@test': { error: 'unknown task' } }]);
  });

  it('inspect registered, active and stats describe the worker', async () => {
    app = memoryApp();
    withAdd(app);
    const g = gate();
    const slow = app.task('tasks.slow', () => g.wait);
    worker = await startWorker(app);
    const started = nextEvent(worker, 'started');
    const r = await slow.delay();
    await started;
    const [registered] = await app.control.inspect('registered', { timeout: 300 });
    expect(registered).toEqual({ 'w1@test': ['tasks.add', 'tasks.slow'] });
    const [active] = await app.control.inspect('active', { timeout: 300 });
    expect((active?.['w1@test'] as Array<{ id: string }> | undefined)?.map((a) => a.id)).toEqual([r.id]);
    g.open();
    await r.get({ timeout: 5000 });
    const [stats] = await app.control.inspect('stats', { timeout: 300 });
    expect((stats?.['w1@test'] as { total: Record<string, number> } | undefined)?.total).toEqual({ 'tasks.slow': 1 });
  });

  it("tasks named like Object.prototype's members are counted in stats, and found by query_task", async () => {
    app = memoryApp();
    const names = ['toString', 'constructor', '__proto__', 'hasOwnProperty', 'valueOf'];
    const tasks = names.map((name) => app?.task(name, () => name));
    const g = gate();
    const slow = app.task('tasks.slow', () => g.wait);
    worker = await startWorker(app);
    for (const t of tasks) await (await t?.delay())?.get({ timeout: 5000 });
    const [stats] = await app.control.inspect('stats', { timeout: 300 });
    const total = (stats?.['w1@test'] as { total: Record<string, number> } | undefined)?.total ?? {};
    expect(Object.entries(total).sort()).toEqual(names.map((name) => [name, 1]).sort());

    const started = nextEvent(worker, 'started');
    const r = await slow.applyAsync([], {}, { taskId: '__proto__' });
    await started;
    const [found] = await app.control.broadcast('query_task', { ids: ['__proto__'] }, { timeout: 300 }).finally(g.open);
    expect(Object.keys(found?.['w1@test'] as object)).toEqual(['__proto__']);
    await r.get({ timeout: 5000 });
  });

  it('inspect active_queues, query_task and conf; control time_limit and hello (mingle) as Celery answers them', async () => {
    app = memoryApp({ task_default_queue: 'work', result_expires: 60 });
    let g = gate();
    const slow = app.task('tasks.slow', () => g.wait);
    worker = await startWorker(app);
    const ask = async (method: string, args: Record<string, unknown> = {}) =>
      (await app.control.broadcast(method, args, { timeout: 300 }))[0]?.['w1@test'];

    expect(await ask('active_queues')).toMatchObject([{ name: 'work', routing_key: 'work', exchange: { name: 'work', type: 'direct' } }]);
    const started = nextEvent(worker, 'started');
    const r = await slow.delay();
    await started;
    expect(await ask('query_task', { ids: [r.id, 'nope'] })).toMatchObject({ [r.id]: ['active', { id: r.id, name: 'tasks.slow' }] });
    g.open();
    await r.get({ timeout: 5000 });

    // Only what differs from the defaults; a URL's password is masked.
    expect(await ask('conf')).toMatchObject({ task_default_queue: 'work', result_expires: 60 });
    expect(Object.keys((await ask('conf')) as object)).not.toContain('task_time_limit');

    expect(await ask('time_limit', { task_name: 'tasks.nope', hard: 1 })).toEqual({ error: 'unknown task' });
    expect(await ask('time_limit', { task_name: 'tasks.slow', hard: 0.2, soft: null })).toEqual({ ok: 'time limits set successfully' });
    g = gate();
    const limited = await slow.delay();
    const err = (await limited.get({ timeout: 5000 }).catch((e: unknown) => e)) as RemoteTaskError;
    expect(err.excType).toBe('TimeLimitExceeded');
    g.open();

    // A method named like an Object.prototype member is unknown, not Object called on the worker's state.
    for (const method of ['constructor', '__proto__', 'toString']) {
      expect(await ask(method)).toMatchObject({ error: expect.stringMatching(new RegExp(`^unknown command '${method}'; known: ping, `)) });
    }

    expect(await ask('hello', { from_node: 'celery@python', revoked: { 'id-from-python': [1.5, 'id-from-python'] } })).toEqual({
      revoked: ['id-from-python'],
      clock: 0,
    });
    expect(worker.revoked.has('id-from-python')).toBe(true);

    // From any client on the pidbox: what is not a task id is never flagged (it was, as 'undefined' or '[object Object]').
    expect(await ask('revoke', {})).toEqual({ error: 'revoke needs task_id: a task id or a list of them, got undefined' });
    expect(await ask('revoke', { task_id: [5, null, { id: 'x' }, 'junk-around-me'] })).toEqual({
      ok: 'tasks junk-around-me flagged as revoked',
    });
    // Python's revoke(terminate=True): flagged, and the reply says a running task is not stopped.
    expect(await ask('revoke', { task_id: 'junk-around-me', terminate: true, signal: 'SIGTERM' })).toEqual({
      ok: 'tasks junk-around-me flagged as revoked; terminate is not supported: a running task goes on (it can watch ctx.signal)',
    });
    expect(await ask('hello', { from_node: 'celery@other', revoked: [7, null, 'listed-by-a-peer'] })).toMatchObject({
      revoked: expect.arrayContaining(['junk-around-me', 'listed-by-a-peer']),
    });
    expect(await ask('revoked')).toEqual(['id-from-python', 'junk-around-me', 'listed-by-a-peer']);
  });

  it('a worker started after a revoke learns it from the running workers (mingle) before it consumes: the task does not run', async () => {
    app = memoryApp();
    let ran = false;
    const t = app.task('tasks.t', () => {
      ran = true;
    });
    // The running worker heard the revoke; the task waits in a queue it does not consume.
    worker = await startWorker(app, { queues: ['elsewhere'] });
    const r = await t.applyAsync([], {}, { taskId: 'revoked-before' });
    await app.control.revoke(r.id, { timeout: 300 });
    const lines: string[] = [];
    const later = await startWorker(app, { hostname: 'w2@test', logger: createLogger({ level: 'info', write: (l) => lines.push(l) }) });
    expect(later.revoked.has('revoked-before')).toBe(true);
    expect(lines.some((l) => l.includes('mingle: sync with 1 nodes'))).toBe(true);
    const err = (await r.get({ timeout: 5000 }).catch((e: unknown) => e)) as RemoteTaskError;
    expect(err.name).toBe('TaskRevokedError');
    expect(ran).toBe(false);
  });

  it('a revoked task is discarded as REVOKED when it comes up', async () => {
    app = memoryApp();
    let ran = false;
    const t = app.task('tasks.t', () => {
      ran = true;
    });
    worker = await startWorker(app);
    const r = await t.applyAsync([], {}, { countdown: 0.3 });
    expect(await app.control.revoke(r.id, { timeout: 300 })).toEqual([{ 'w1@test': { ok: `tasks ${r.id} flagged as revoked` } }]);
    const err = (await r.get({ timeout: 5000 }).catch((e: unknown) => e)) as RemoteTaskError;
    expect(err.name).toBe('TaskRevokedError');
    expect(ran).toBe(false);
    const [revoked] = await app.control.inspect('revoked', { timeout: 300 });
    expect(revoked).toEqual({ 'w1@test': [r.id] });
  });
});

describe('graceful shutdown', () => {
  it('a stopped worker cannot be started again: start() says to create a new one', async () => {
    app = memoryApp();
    const stopped = await startWorker(app);
    await stopped.stop();
    await expect(stopped.start()).rejects.toThrow('Worker w1@test was stopped; create a new one with app.worker().');
  });

  it('start() twice is one start: one consumer, so after stop() nothing consumes (a second used to outlive it, spinning on hand-backs)', async () => {
    app = memoryApp();
    const broker = await app.broker();
    const consume = vi.spyOn(broker, 'consume');
    const worker = await app.worker({ hostname: 'w1@test' });
    await Promise.all([worker.start(), worker.start()]);
    await worker.start();
    expect(consume).toHaveBeenCalledTimes(1);
    await worker.stop();
  });

  it('a start that failed (the broker not reachable yet) can be tried again', async () => {
    app = memoryApp();
    const real = app.broker.bind(app);
    let calls = 0;
    app.broker = () => (++calls === 1 ? Promise.reject(new Error('broker not reachable yet')) : real());
    const t = app.task('tasks.later', () => 'ran');
    const worker = await app.worker({ hostname: 'w1@test' });
    await expect(worker.start()).rejects.toThrow('broker not reachable yet');
    await worker.start();
    expect(await (await t.delay()).get({ timeout: 5000 })).toBe('ran');
    await worker.stop();
  });

  it('stop() asks its consumer to stop once: a consumer that never stops (a lost broker) is waited for once, not again before the hand-back', async () => {
    app = memoryApp();
    const worker = await startWorker(app);
    const { consumer } = worker as unknown as { consumer: { stop(): Promise<void> } };
    const stop = consumer.stop.bind(consumer);
    let stops = 0;
    consumer.stop = () => {
      stops++;
      return new Promise(() => {}); // never
    };
    const events: string[] = [];
    worker.on('stopped', () => events.push('stopped'));
    const t0 = Date.now();
    await worker.stop();
    expect(stops).toBe(1);
    expect(events).toEqual(['stopped']);
    // One bounded wait (2 s) for it, not a second one before the hand-back (4 s in all).
    expect(Date.now() - t0).toBeLessThan(3900);
    await stop(); // for the app's close
  });

  it('stop() lets the running task finish and hands back the ones not started', async () => {
    app = memoryApp();
    const g = gate();
    const ran: string[] = [];
    const slow = app.task('tasks.slow', async (label: string) => {
      ran.push(label);
      await g.wait;
      return label;
    });
    worker = await startWorker(app, { concurrency: 1 });
    const startedA = nextEvent(worker, 'started');
    const a = await slow.delay('a');
    await startedA;
    const receivedB = nextEvent(worker, 'received', (e) => e.id !== a.id);
    await slow.delay('b');
    await receivedB;
    const handedBack = nextEvent(worker, 'handed-back');
    const stopping = worker.stop();
    await handedBack;
    g.open();
    await stopping;
    worker = undefined;
    expect(ran).toEqual(['a']);
    expect(await a.get({ timeout: 5000 })).toBe('a');
    expect(await (await app.broker()).size?.('celery')).toBe(1);
  });
});
