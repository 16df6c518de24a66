/**
 * celeriac and Python Celery 5.2 (Debian's python3-celery) as equals on one real Redis (issue 3):
 * tasks, results and errors both ways, remote control both ways over the pidbox (§6), and Celery's
 * own event consumer following a celeriac worker (§7).
 *
 * DB 12: a Python worker (`celery -A pytasks worker --pool=solo`) that celeriac sends to.
 * DB 13: a `celeriac worker -E` that Python's client (pyclient.py) sends to.
 */
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type App, chain, chord, createApp, group } from '../../core/index.js';
import { WorkerProcess, celeriac, ensureBuilt } from '../cli/harness.js';
import { eventually } from '../conformance/helpers.js';
import { FIXTURES, PythonProcess, requireCelery, runPython } from './python.js';

const PY_DB = 12;
const TS_DB = 13;
const url = (db: number) => `redis://127.0.0.1:6379/${db}`;
const PY_NODE = 'py@interop';
const TS_NODE = 'ts@interop';

let pyWorker: PythonProcess;
let tsWorker: WorkerProcess;
/** A celeriac producer talking to the Python worker's Redis DB. */
let toPython: App;
/** A celeriac producer talking to the celeriac worker's Redis DB. */
let toCeleriac: App;

beforeAll(async () => {
  requireCelery();
  for (const db of [PY_DB, TS_DB]) {
    const r = new Redis(url(db));
    await r.flushdb();
    await r.quit();
  }
  await ensureBuilt();
  pyWorker = new PythonProcess(
    ['-m', 'celery', '-A', 'pytasks', 'worker', '--pool=solo', '-n', PY_NODE, '--without-mingle', '-l', 'info'],
    url(PY_DB),
  );
  tsWorker = new WorkerProcess(FIXTURES, [
    '-A',
    'tasks.ts',
    '-b',
    url(TS_DB),
    '--result-backend',
    url(TS_DB),
    '-n',
    TS_NODE,
    '-E',
    '-c',
    '4',
    '-l',
    'info',
  ]);
  await Promise.all([pyWorker.waitFor(new RegExp(`${PY_NODE} ready`), 45_000), tsWorker.ready(45_000)]);
  toPython = createApp('interop', { broker: url(PY_DB), backend: url(PY_DB) });
  toCeleriac = createApp('interop', {
    broker: url(TS_DB),
    backend: url(TS_DB),
  });
}, 120_000);

afterAll(async () => {
  await Promise.all([toPython?.close(), toCeleriac?.close()]);
  tsWorker?.child.pid !== undefined && tsWorker.child.exitCode === null && process.kill(tsWorker.child.pid, 'SIGTERM');
  await Promise.all([pyWorker?.stop(), tsWorker?.exit(15_000).catch(() => tsWorker.kill())]);
});

/** Run pyclient.py: Python sends the calls to the celeriac worker and reports what AsyncResult.get() gave. */
async function fromPython(
  calls: Array<Record<string, unknown>>,
  db = TS_DB,
): Promise<
  Array<{
    ok?: unknown;
    sent_at?: number;
    error?: Record<string, unknown>;
    id?: string;
    steps?: string[];
    children?: string[][];
    meta_children?: unknown[];
    collected?: string[];
  }>
> {
  const out = await runPython(['pyclient.py', JSON.stringify(calls)], url(db));
  if (out.code !== 0) throw new Error(`pyclient.py failed (${out.code}):\n${out.stdout}${out.stderr}`);
  return JSON.parse(out.stdout.trim().split('\n').pop() ?? '[]');
}

describe('celeriac sends, the Python worker runs', () => {
  it('args and kwargs arrive as Python reads them, and celeriac reads the result Python stored', async () => {
    const echo = await toPython.sendTask('py.echo', [1, 'two', [3], { four: 4 }, null], { five: 5.5, six: [true] });
    const add = await toPython.sendTask('py.add', [4, 4]);
    expect(await echo.get({ timeout: 20_000 })).toEqual({
      args: [1, 'two', [3], { four: 4 }, null],
      kwargs: { five: 5.5, six: [true] },
    });
    expect(await add.get({ timeout: 20_000 })).toBe(8);
    expect(await add.successful()).toBe(true);
  });

  it('countdown and ETA hold the task until it is due', async () => {
    const sentAt = Date.now() / 1000;
    const countdown = await toPython.sendTask('py.now', [], {}, { countdown: 1.5 });
    const eta = await toPython.sendTask('py.now', [], {}, { eta: new Date(Date.now() + 2000) });
    expect(await countdown.get({ timeout: 20_000 })).toBeGreaterThanOrEqual(sentAt + 1.5 - 0.05);
    expect(await eta.get({ timeout: 20_000 })).toBeGreaterThanOrEqual(sentAt + 2 - 0.05);
  });

  it('chain, group and chord sent from TypeScript (a group mid-chain too) run on the Python worker (its Celery completes the chords)', async () => {
    const add = (...args: number[]) => toPython.signature<(x: number, y: number) => number>('py.add', args as [number, number]);
    const echo = (...args: unknown[]) => toPython.signature('py.echo', args);
    const chained = await chain(add(1, 2), add(10), echo('last')).applyAsync();
    const grouped = await group(add(1, 1), add(2, 2)).applyAsync();
    const chorded = await chord([add(1, 2), add(3, 4), add(5, 6)], echo('sum')).applyAsync();
    const throughGroup = await chain(add(1, 2), group(add(10), add(20)), echo('then')).applyAsync();
    expect(await chained.get({ timeout: 20_000 })).toEqual({ args: [13, 'last'], kwargs: {} });
    expect(await grouped.get({ timeout: 20_000 })).toEqual([2, 4]);
    expect(await chorded.get({ timeout: 20_000 })).toEqual({ args: [[3, 7, 11], 'sum'], kwargs: {} });
    expect(await throughGroup.get({ timeout: 20_000 })).toEqual({ args: [[13, 23], 'then'], kwargs: {} });
  });

  it('priorities land in kombu priority lists: the Python worker serves 0 before 9', async () => {
    const queue = 'interop-priority';
    const low = await Promise.all(['low1', 'low2', 'low3'].map((tag) => toPython.sendTask('py.record', [tag], {}, { queue, priority: 9 })));
    const high = await Promise.all(['high1', 'high2'].map((tag) => toPython.sendTask('py.record', [tag], {}, { queue, priority: 0 })));
    // The worker was not consuming this queue: add it now, over the pidbox, so all five wait together.
    const replies = await toPython.control.broadcast('add_consumer', { queue }, { destination: [PY_NODE], timeout: 5000 });
    expect(replies).toEqual([{ [PY_NODE]: { ok: `add consumer ${queue}` } }]);
    for (const r of [...low, ...high]) await r.get({ timeout: 20_000 });
    const redis = new Redis(url(PY_DB));
    const order = await redis.lrange('interop:order', 0, -1);
    await redis.quit();
    expect(order.slice(0, 2).sort()).toEqual(['high1', 'high2']);
    expect(order.slice(2).sort()).toEqual(['low1', 'low2', 'low3']);
  });

  it('a task that retries itself on the Python worker ends with its result', async () => {
    const r = await toPython.sendTask('py.flaky', [2]);
    expect(await r.get({ timeout: 20_000 })).toBe(2);
  });

  it("celeriac reads a Python result holding NaN and Infinity, which Python's json writes", async () => {
    expect(await (await toPython.sendTask('py.non_finite', [])).get({ timeout: 20_000 })).toEqual([Number.NaN, Infinity, -Infinity]);
  });

  it("a Python ValueError is re-thrown by celeriac's get() with its type name and message", async () => {
    const r = await toPython.sendTask('py.fail', ['bad input']);
    await expect(r.get({ timeout: 20_000 })).rejects.toMatchObject({
      name: 'ValueError',
      message: 'bad input',
    });
    expect(await r.failed()).toBe(true);
    expect(r.traceback).toMatch(/Traceback[\s\S]*ValueError: bad input/);
  });
});

describe('Python sends, the celeriac worker runs', () => {
  it("send_task and apply_async run on celeriac; Python's AsyncResult.get() reads the results", async () => {
    const [added, echoed, applied, delayed, retried] = await fromPython([
      { via: 'send_task', name: 'ts.add', args: [2, 3] },
      {
        via: 'send_task',
        name: 'ts.echo',
        args: [1, 'two', { three: [3] }],
        kwargs: { four: 4.5, five: null },
      },
      { via: 'apply_async', name: 'ts.add', args: [10, 20] },
      { via: 'send_task', name: 'ts.now', countdown: 1.5 },
      { via: 'send_task', name: 'ts.flaky', args: [2] },
    ]);
    expect(added).toMatchObject({ ok: 5 });
    expect(echoed).toMatchObject({
      ok: {
        args: [1, 'two', { three: [3] }],
        kwargs: { four: 4.5, five: null },
      },
    });
    expect(applied).toMatchObject({ ok: 30 });
    expect(delayed?.ok).toBeGreaterThanOrEqual((delayed?.sent_at ?? Number.POSITIVE_INFINITY) + 1.5 - 0.05);
    expect(retried).toMatchObject({ ok: 2 });
  });

  it('a retry of a task Python sent through a named exchange comes back to the queue it was bound to, acked late or early', async () => {
    // The queue 'celery' is bound to the direct exchange 'media' under 'media.celery', not its name.
    const routed = { exchange: 'media', routing_key: 'media.celery' };
    const [late, early] = await fromPython([
      { via: 'send_task', name: 'ts.flaky', args: [2], ...routed },
      { via: 'send_task', name: 'ts.flaky_early', args: [2], ...routed },
    ]);
    expect(late).toMatchObject({ ok: 2 });
    expect(early).toMatchObject({ ok: 2 });
    // Nothing went to a list named after the routing key, which no worker reads.
    const redis = new Redis(url(TS_DB));
    expect(await redis.exists('media.celery')).toBe(0);
    await redis.quit();
  });

  it('NaN and Infinity from Python arrive as numbers; a compression Node has no codec for ends FAILURE, not a wait', async () => {
    // JSON.stringify has no NaN: the call list is written as Python's json reads it.
    const calls = '[{"via": "send_task", "name": "ts.spell", "args": [NaN, Infinity, -Infinity, 1.5]}]';
    const out = await runPython(['pyclient.py', calls], url(TS_DB));
    expect(JSON.parse(out.stdout.trim().split('\n').pop() ?? '[]')).toMatchObject([{ ok: ['NaN', 'Infinity', '-Infinity', '1.5'] }]);
    const [bzip2] = await fromPython([{ via: 'send_task', name: 'ts.add', args: [1, 2], compression: 'bzip2' }]);
    expect(bzip2?.error).toMatchObject({
      type: 'MalformedMessage',
      message: expect.stringContaining('unsupported compression "application/x-bz2"'),
    });
  });

  it("Python's chain, link and link_error run on the celeriac worker, step by step", async () => {
    const [chained, linked, errback] = await fromPython([
      {
        via: 'chain',
        steps: [
          { name: 'ts.add', args: [1, 2] },
          { name: 'ts.add', args: [10] },
          { name: 'ts.add', args: [100] },
        ],
      },
      { via: 'send_task', name: 'ts.add', args: [2, 2], link: { name: 'ts.add', args: [1000] } },
      { via: 'send_task', name: 'ts.bad_input', args: ['boom'], link_error: { name: 'ts.echo', args: [] } },
    ]);
    expect(chained).toMatchObject({ ok: 113 });
    // Each step's stored meta lists the next as its child, as Celery's worker records it (AsyncResult.children).
    const steps = chained?.steps ?? [];
    expect(chained?.children).toEqual([[steps[1]], [steps[2]], []]);
    expect(linked).toMatchObject({ ok: 1004 });
    // An errback is called with the failed task's id, as Celery calls a task it cannot inspect.
    expect(errback?.ok).toMatchObject({ args: [expect.stringMatching(/^[0-9a-f-]{36}$/)] });
  });

  it("a link Python does not freeze (as Celery's docs write it) is among the task's children, as a Celery worker records it", async () => {
    const [linked] = await fromPython([
      { via: 'send_task', name: 'ts.add', args: [2, 2], link: { name: 'ts.add', args: [1000] }, freeze: false },
    ]);
    expect(linked).toMatchObject({ ok: 4 });
    // collect() walks the task, then its callback, which ran with its result.
    const child = linked?.collected?.[1] as string;
    expect(child).toMatch(/^[0-9a-f-]{36}$/);
    expect(linked?.collected).toEqual([linked?.id, child]);
    expect(linked?.meta_children).toEqual([[[child, null], null]]);
    expect(await toCeleriac.AsyncResult(child).get({ timeout: 5000 })).toBe(1004);
  });

  it("Python's chord runs on celeriac workers: the body gets the header's results in order, or fails with ChordError", async () => {
    const [joined, broken] = await fromPython([
      {
        via: 'chord',
        header: [
          { name: 'ts.add', args: [1, 2] },
          { name: 'ts.add', args: [3, 4] },
          { name: 'ts.add', args: [5, 6] },
        ],
        body: { name: 'ts.echo', args: ['sum'] },
      },
      {
        via: 'chord',
        header: [
          { name: 'ts.add', args: [1, 1] },
          { name: 'ts.bad_input', args: ['part two broke'] },
        ],
        body: { name: 'ts.echo', args: [] },
      },
    ]);
    expect(joined).toMatchObject({ ok: { args: [[3, 7, 11], 'sum'] } });
    // Python's get() on a chord re-raises the failed header task's own error first, as with Celery's workers...
    expect(broken?.error).toMatchObject({ type: 'TypeError', message: 'part two broke' });
    // ...and the body was stored as Celery stores it: FAILURE ChordError naming the failed part.
    const body = await toCeleriac
      .AsyncResult(broken?.id as string)
      .get({ timeout: 5000 })
      .catch((e: Error) => e);
    expect(body).toMatchObject({ name: 'ChordError', excModule: 'celery.exceptions' });
    expect((body as Error).message).toMatch(/^Dependency [0-9a-f-]{36} raised TypeError\('part two broke'\)$/);
  });

  it("Python's chain into a chord or a group, and a chord in mid-chain, run on celeriac workers", async () => {
    const first = { name: 'ts.add', args: [1, 2] };
    const header = [
      { name: 'ts.add', args: [10] },
      { name: 'ts.add', args: [20] },
    ];
    const [intoChord, intoGroup, midChain] = await fromPython([
      { via: 'chain', steps: [first, { chord: { header, body: { name: 'ts.echo', args: ['x'] } } }] },
      { via: 'chain', steps: [first, { group: header }] },
      { via: 'chain', steps: [first, { chord: { header, body: { name: 'ts.echo', args: [] } } }, { name: 'ts.echo', args: ['then'] }] },
    ]);
    expect(intoChord).toMatchObject({ ok: { args: [[13, 23], 'x'] } });
    expect(intoGroup).toMatchObject({ ok: [13, 23] });
    expect(midChain).toMatchObject({ ok: { args: [{ args: [[13, 23]], kwargs: {} }, 'then'] } });
  });

  it("a celeriac error reaches Python's get() as an exception Python rebuilds", async () => {
    const [builtin, own] = await fromPython([
      { via: 'send_task', name: 'ts.bad_input', args: ['bad input'] },
      { via: 'send_task', name: 'ts.over_quota', args: ['3 of 2 used'] },
    ]);
    // A JS TypeError is stored as builtins.TypeError: Python raises its own TypeError.
    expect(builtin).toMatchObject({
      error: { type: 'TypeError', module: 'builtins', message: 'bad input' },
    });
    // A class Python cannot import is synthesized under its name, as Celery does for unknown exceptions.
    expect(own).toMatchObject({
      error: { type: 'QuotaExceeded', message: '3 of 2 used' },
    });
  });
});

describe('a chord across both languages', () => {
  it('header tasks on the Python worker and on a celeriac worker complete one chord, whichever finishes last', async () => {
    // A celeriac worker beside the Python one on its DB, serving the queue 'ts' only.
    const beside = createApp('interop', { broker: url(PY_DB), backend: url(PY_DB) });
    beside.task('ts.add', (x: number, y: number) => x + y);
    beside.task('ts.echo', (...params: unknown[]) => ({ args: params.slice(0, -1), kwargs: {} }));
    const worker = await beside.worker({ queues: ['ts'], hostname: 'ts-beside@interop', concurrency: 2 });
    await worker.start();
    try {
      const header = [
        { name: 'py.add', args: [1, 2] },
        { name: 'ts.add', args: [3, 4], queue: 'ts' },
        { name: 'py.add', args: [5, 6] },
      ];
      const [pythonBody, celeriacBody] = await fromPython(
        [
          { via: 'chord', header, body: { name: 'py.echo', args: ['py'] } },
          { via: 'chord', header, body: { name: 'ts.echo', args: ['ts'], queue: 'ts' } },
        ],
        PY_DB,
      );
      expect(pythonBody).toMatchObject({ ok: { args: [[3, 7, 11], 'py'], kwargs: {} } });
      expect(celeriacBody).toMatchObject({ ok: { args: [[3, 7, 11], 'ts'], kwargs: {} } });
    } finally {
      await worker.stop();
      await beside.close();
    }
  });
});

describe("Celery's Redis priority recipe on both sides", () => {
  // The Celery docs' recipe: ten priority lists named `<queue>:<n>`, queues served in -Q order.
  const recipe = { priority_steps: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], sep: ':', queue_order_strategy: 'priority' };
  const env = { INTEROP_TRANSPORT_OPTIONS: JSON.stringify(recipe) };
  const RECIPE_DB = 7;
  const queue = 'interop-recipe';

  beforeAll(async () => {
    const r = new Redis(url(RECIPE_DB));
    await r.flushdb();
    await r.quit();
  });

  it('celeriac sends into the lists a Python worker with the recipe reads: all run, 0 first', async () => {
    const app = createApp('recipe', { broker: url(RECIPE_DB), backend: url(RECIPE_DB) });
    app.conf.update({ broker_transport_options: recipe });
    const sent = [];
    for (const [tag, priority] of [
      ['p9', 9],
      ['p5', 5],
      ['p0', 0],
    ] as const) {
      sent.push(await app.sendTask('py.record', [tag], {}, { queue, priority }));
    }
    const redis = new Redis(url(RECIPE_DB));
    expect((await redis.keys(`${queue}*`)).sort()).toEqual([queue, `${queue}:5`, `${queue}:9`]);
    const worker = new PythonProcess(
      ['-m', 'celery', '-A', 'pytasks', 'worker', '--pool=solo', '-n', 'recipe@interop', '-Q', queue, '--without-mingle', '-l', 'info'],
      url(RECIPE_DB),
      env,
    );
    try {
      for (const r of sent) await r.get({ timeout: 30_000 });
      expect(await redis.lrange('interop:order', 0, -1)).toEqual(['p0', 'p5', 'p9']);
    } finally {
      redis.disconnect();
      await Promise.all([worker.stop(), app.close()]);
    }
  });

  it('a celeriac worker with the recipe runs what a Python producer with it sends, at every priority', async () => {
    const app = createApp('recipe', { broker: url(RECIPE_DB), backend: url(RECIPE_DB) });
    app.conf.update({ broker_transport_options: recipe });
    app.task('ts.add', (x: number, y: number) => x + y);
    const worker = await app.worker({ queues: [queue], hostname: 'recipe-ts@interop' });
    await worker.start();
    try {
      const calls = [0, 5, 9].map((priority) => ({ via: 'send_task', name: 'ts.add', args: [priority, 1], queue, priority }));
      const out = await runPython(['pyclient.py', JSON.stringify(calls)], url(RECIPE_DB), 60_000, env);
      expect(out.code, out.stderr).toBe(0);
      expect(JSON.parse(out.stdout.trim().split('\n').pop() ?? '[]')).toMatchObject([{ ok: 1 }, { ok: 6 }, { ok: 10 }]);
    } finally {
      await worker.stop();
      await app.close();
    }
  });
});

describe('remote control both ways', () => {
  it('`celeriac inspect ping` and `celeriac control rate_limit` reach the Python worker in Celery format', async () => {
    const ping = await celeriac(FIXTURES, ['inspect', 'ping', '-b', url(PY_DB), '-t', '3', '-d', PY_NODE]);
    expect(ping.stdout).toContain(`-> ${PY_NODE}: OK\n    pong`);
    const limit = await celeriac(FIXTURES, ['control', 'rate_limit', 'py.add', '10/m', '-b', url(PY_DB), '-t', '3', '-d', PY_NODE]);
    expect(limit.stdout).toMatch(new RegExp(`${PY_NODE}: OK\\n\\s+new rate limit set successfully`));
    // The Python worker applied it: its registered list shows the new limit.
    const [registered] = await toPython.control.inspect('registered', {
      destination: [PY_NODE],
      timeout: 5000,
    });
    expect(registered?.[PY_NODE]).toContain('py.add [rate_limit=10/m]');
  });

  it('`celery inspect ping` and `celery control rate_limit` reach the celeriac worker', async () => {
    const ping = await runPython(['-m', 'celery', '-A', 'pytasks', 'inspect', 'ping', '-d', TS_NODE, '-t', '3'], url(TS_DB));
    expect(ping.stdout).toMatch(new RegExp(`${TS_NODE}: OK\\s+pong`));
    const limit = await runPython(
      ['-m', 'celery', '-A', 'pytasks', 'control', 'rate_limit', 'ts.echo', '600/m', '-d', TS_NODE, '-t', '3'],
      url(TS_DB),
    );
    expect(limit.stdout).toMatch(new RegExp(`${TS_NODE}: OK\\s+new rate limit set successfully`));
    const [registered] = await toCeleriac.control.inspect('registered', {
      destination: [TS_NODE],
      timeout: 5000,
    });
    expect(registered?.[TS_NODE]).toContain('ts.echo [rate_limit=600/m]');
    // What Flower and `celery inspect` ask besides: the queues consumed, in kombu's Queue shape.
    const queues = await runPython(['-m', 'celery', '-A', 'pytasks', 'inspect', 'active_queues', '-d', TS_NODE, '-t', '3'], url(TS_DB));
    expect(queues.stdout).toMatch(new RegExp(`${TS_NODE}: OK\\s+\\* {.*'name': 'celery'.*'exchange': {.*'type': 'direct'`, 's'));
  });

  it('`celery inspect scheduled` lists the countdown task a celeriac worker set aside as a Python worker lists the one it holds', async () => {
    const send = (app: App, name: string) => app.sendTask(name, [1, 'two'], { k: 3 }, { countdown: 60, priority: 3 });
    const [onPython, onCeleriac] = await Promise.all([send(toPython, 'py.echo'), send(toCeleriac, 'ts.echo')]);
    const scheduled = (node: string, db: number) =>
      eventually(
        `${node} to list its scheduled task`,
        async () => {
          const out = await runPython(['-m', 'celery', '-A', 'pytasks', 'inspect', 'scheduled', '--json', '-d', node, '-t', '3'], url(db));
          const entries = JSON.parse(out.stdout.trim() || '{}')[node] as Array<Record<string, unknown>> | undefined;
          return entries?.length ? entries : undefined;
        },
        30_000,
      );
    const [py, ts] = await Promise.all([scheduled(PY_NODE, PY_DB), scheduled(TS_NODE, TS_DB)]);
    // kombu leaves `redelivered` unset (None) on Redis; celeriac says false: the task was not delivered yet.
    const entry = (id: string, name: string, node: string, redelivered: boolean | null) => ({
      eta: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00$/),
      priority: 6,
      request: {
        id,
        name,
        args: [1, 'two'],
        kwargs: { k: 3 },
        type: name,
        hostname: node,
        time_start: null,
        acknowledged: false,
        delivery_info: { exchange: '', routing_key: 'celery', priority: 3, redelivered },
        worker_pid: null,
      },
    });
    expect(py).toEqual([entry(onPython.id, 'py.echo', PY_NODE, null)]);
    expect(ts).toEqual([entry(onCeleriac.id, 'ts.echo', TS_NODE, false)]);
    // Both the ETA the message carries, to the microsecond.
    const redis = new Redis(url(TS_DB));
    const [record] = (await redis.hvals('unacked')).filter((r) => JSON.parse(r)[0]?.headers?.id === onCeleriac.id);
    redis.disconnect();
    expect(ts?.[0]?.eta).toBe(JSON.parse(record as string)[0].headers.eta);
  });

  it('a countdown task a celeriac worker set aside until due runs on the Python worker once the celeriac worker is gone', async () => {
    // A celeriac worker alone on queue 'handover' fetches the task early and does not hold it: it
    // leaves it in kombu's unacked records, due back at its ETA for whichever restore comes first.
    const app = createApp('handover', { broker: url(PY_DB), backend: url(PY_DB) });
    app.task('py.now', () => {
      throw new Error('not run by the celeriac worker: it stopped before the task was due');
    });
    const worker = await app.worker({ queues: ['handover'], hostname: 'handover@interop' });
    await worker.start();
    const sentAt = Date.now() / 1000;
    const r = await toPython.sendTask<() => number>('py.now', [], {}, { countdown: 3, queue: 'handover' });
    const redis = new Redis(url(PY_DB));
    await eventually('the task set aside in unacked', async () =>
      Object.values(await redis.hgetall('unacked')).some((record) => JSON.parse(record)[0]?.headers?.id === r.id),
    );
    redis.disconnect();
    await worker.stop();
    await app.close();
    const consume = (verb: string) =>
      runPython(['-m', 'celery', '-A', 'pytasks', 'control', verb, 'handover', '-d', PY_NODE, '-t', '3'], url(PY_DB));
    expect((await consume('add_consumer')).stdout).toContain(PY_NODE);
    try {
      // kombu's own restore brings it back once due. A Python worker runs it on a timer, doing the
      // work one call in ten (up to minutes apart): here it is called once, when the ETA has passed.
      await eventually('the ETA to pass', async () => Date.now() / 1000 > sentAt + 3.1, 10_000);
      const restore = 'from pytasks import app\nwith app.connection_for_write() as c:\n    c.default_channel.qos.restore_visible(num=1000)';
      expect((await runPython(['-c', restore], url(PY_DB))).code).toBe(0);
      expect(await r.get({ timeout: 20_000 })).toBeGreaterThanOrEqual(sentAt + 3);
    } finally {
      await consume('cancel_consumer');
    }
  });

  it('a revoke from either side stops a waiting task on the other side', async () => {
    const [onPython, onCeleriac] = await Promise.all([
      toPython.sendTask('py.now', [], {}, { countdown: 2 }),
      toCeleriac.sendTask('ts.now', [], {}, { countdown: 2 }),
    ]);
    const [fromCeleriac, fromCelery] = await Promise.all([
      celeriac(FIXTURES, ['control', 'revoke', onPython.id, '-b', url(PY_DB), '-t', '3']),
      runPython(['-m', 'celery', '-A', 'pytasks', 'control', 'revoke', onCeleriac.id, '-t', '3'], url(TS_DB)),
    ]);
    expect(fromCeleriac.stdout).toMatch(new RegExp(`${PY_NODE}: OK\\s+tasks ${onPython.id} flagged as revoked`));
    expect(fromCelery.stdout).toMatch(new RegExp(`${TS_NODE}: OK\\s+tasks ${onCeleriac.id} flagged as revoked`));
    await expect(onPython.get({ timeout: 20_000 })).rejects.toMatchObject({
      name: 'TaskRevokedError',
    });
    await expect(onCeleriac.get({ timeout: 20_000 })).rejects.toMatchObject({
      name: 'TaskRevokedError',
    });
  });
});

describe('events', () => {
  it("`celery events --dump` follows a celeriac worker's heartbeats and task events", async () => {
    const dump = new PythonProcess(['-m', 'celery', '-A', 'pytasks', 'events', '--dump'], url(TS_DB));
    try {
      // The dumper asks workers for a heartbeat once it listens: seeing one means it is subscribed.
      await dump.waitFor(new RegExp(`${TS_NODE} \\[[^\\]]+\\] heartbeat: .*freq=2`), 20_000);
      const r = await toCeleriac.sendTask('ts.add', [20, 22]);
      expect(await r.get({ timeout: 20_000 })).toBe(42);
      await dump.waitFor(new RegExp(`${TS_NODE} \\[[^\\]]+\\] task received: ts\\.add\\(${r.id}\\) args=\\(20, 22\\)`), 10_000);
      await dump.waitFor(new RegExp(`${TS_NODE} \\[[^\\]]+\\] task succeeded: ts\\.add\\(${r.id}\\).*result=42`), 10_000);
    } finally {
      await dump.stop();
    }
  });

  it('a task Python sent with shadow= shows under that name in the worker’s task-received event and log lines', async () => {
    const dump = new PythonProcess(['-m', 'celery', '-A', 'pytasks', 'events', '--dump'], url(TS_DB));
    try {
      await dump.waitFor(new RegExp(`${TS_NODE} \\[[^\\]]+\\] heartbeat: .*freq=2`), 20_000);
      const [shadowed] = await fromPython([{ via: 'send_task', name: 'ts.add', args: [1, 2], shadow: 'reports.nightly[acme]' }]);
      expect(shadowed).toMatchObject({ ok: 3 });
      const id = shadowed?.id as string;
      await dump.waitFor(new RegExp(`${TS_NODE} \\[[^\\]]+\\] task received: reports\\.nightly\\[acme\\]\\(${id}\\)`), 10_000);
      await tsWorker.waitFor(new RegExp(`Task reports\\.nightly\\[acme\\]\\[${id}\\] received`), 10_000);
      await tsWorker.waitFor(new RegExp(`Task reports\\.nightly\\[acme\\]\\[${id}\\] succeeded in \\S+s: 3`), 10_000);
    } finally {
      await dump.stop();
    }
  });

  it('task-sent is published when task_send_sent_event is on', async () => {
    const sub = new Redis(url(TS_DB));
    const seen: string[] = [];
    sub.on('pmessage', (_p: string, channel: string, raw: string) => seen.push(`${channel} ${raw}`));
    await sub.psubscribe(`/${TS_DB}.celeryev/*`);
    const producer = createApp('interop', {
      broker: url(TS_DB),
      backend: url(TS_DB),
      task_send_sent_event: true,
    });
    try {
      const r = await producer.sendTask('ts.add', [1, 1]);
      const line = await eventually('the task-sent event', () => seen.find((s) => s.startsWith(`/${TS_DB}.celeryev/task.sent `)), 5000);
      const body = JSON.parse(Buffer.from(JSON.parse(line.slice(line.indexOf(' ') + 1)).body, 'base64').toString());
      expect(body).toMatchObject({
        type: 'task-sent',
        uuid: r.id,
        name: 'ts.add',
        args: '(1, 1)',
        queue: 'celery',
        routing_key: 'celery',
      });
      await r.get({ timeout: 20_000 });
    } finally {
      await producer.close();
      await sub.quit();
    }
  });
});
