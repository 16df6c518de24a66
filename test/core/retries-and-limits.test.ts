/** Retries, ETA/countdown, expiry, rate limits and time limits, as the executor applies them. */
import { publishFromPython } from '../support/python-canvas.js';
import { afterEach, describe, expect, it } from 'vitest';
import type { App } from '../../core/app.js';
import type { RemoteTaskError } from '../../core/errors.js';
import type { TaskContext } from '../../core/task-context.js';
import type { Worker } from '../../core/worker/worker.js';
import { closeAppsAndWorkers, gate, memoryApp, nextEvent, startWorker } from './helpers.js';

let app: App;
let worker: Worker | undefined;

afterEach(closeAppsAndWorkers);

class Flaky extends Error {
  override name = 'Flaky';
}

describe('retries', () => {
  it('ctx.retry({ countdown }) runs the task again with retries+1, storing RETRY in between', async () => {
    app = memoryApp();
    const states: string[] = [];
    const again = app.task('tasks.again', async (ctx: TaskContext) => {
      if (ctx.retries < 2) ctx.retry({ countdown: 0.05, exc: new Flaky(`attempt ${ctx.retries}`) });
      return `done after ${ctx.retries}`;
    });
    worker = await startWorker(app);
    worker.on('retried', () => states.push('retried'));
    const retried = nextEvent(worker, 'retried');
    const r = await again.delay();
    const first = await retried;
    expect(first.retry.message).toBe('Retry in 0s: Flaky("attempt 0")');
    expect(await r.get({ timeout: 5000 })).toBe('done after 2');
    expect(states).toEqual(['retried', 'retried']);
  });

  it('a task acked early whose retry cannot be published (a broker blip) fails with why and is reported lost, not left RETRY', async () => {
    app = memoryApp();
    let runs = 0;
    const once = app.task(
      'tasks.once',
      (ctx: TaskContext) => {
        runs++;
        ctx.retry({ countdown: 0.01, exc: new Flaky('again') });
      },
      { acksLate: false },
    );
    worker = await startWorker(app);
    const broker = await app.broker();
    const publish = broker.publish.bind(broker);
    broker.publish = async (queue, messages) => {
      if (messages.some((m) => m.headers.retries === 1)) throw new Error('connection lost while publishing');
      return publish(queue, messages);
    };
    const errors: string[] = [];
    worker.on('internal-error', (e) => errors.push(`${e.during}: ${e.error.message}`));
    const r = await once.delay();
    const err = (await r.get({ timeout: 5000 }).catch((e: unknown) => e)) as RemoteTaskError;
    expect(err.message).toBe('connection lost while publishing');
    expect(errors).toEqual(['publishing its retry (acked early: the retry is lost): connection lost while publishing']);
    expect(runs).toBe(1);
    expect(await broker.size?.('celery')).toBe(0);
  });

  it('past maxRetries the task fails with the given error', async () => {
    app = memoryApp();
    const always = app.task('tasks.always', (ctx: TaskContext) => ctx.retry({ countdown: 0.01, exc: new Flaky('still broken') }), {
      maxRetries: 1,
    });
    worker = await startWorker(app);
    const r = await always.delay();
    const err = (await r.get({ timeout: 5000 }).catch((e: unknown) => e)) as RemoteTaskError;
    expect(err.name).toBe('Flaky');
    expect(err.message).toBe('still broken');
  });

  it('past maxRetries without an error the task fails with MaxRetriesExceededError', async () => {
    app = memoryApp();
    const always = app.task('tasks.always', (ctx: TaskContext) => ctx.retry({ countdown: 0.01 }), { maxRetries: 2 });
    worker = await startWorker(app);
    let retries = 0;
    worker.on('retried', () => retries++);
    const r = await always.delay();
    const err = (await r.get({ timeout: 5000 }).catch((e: unknown) => e)) as RemoteTaskError;
    expect(err.name).toBe('MaxRetriesExceededError');
    expect(retries).toBe(2);
  });

  it('RETRY holds the error the retry was given, and no result when it was given none, as Celery stores None', async () => {
    app = memoryApp();
    const later = app.task('tasks.later', (withError: boolean, ctx: TaskContext) =>
      ctx.retry({ countdown: 60, ...(withError && { exc: new Flaky('not yet') }) }),
    );
    worker = await startWorker(app);
    for (const [withError, result] of [
      [false, null],
      [true, { exc_type: 'Flaky', exc_message: ['not yet'] }],
    ] as const) {
      const retried = nextEvent(worker, 'retried');
      const r = await later.delay(withError);
      await retried;
      expect(await (await app.backend()).get(r.id)).toMatchObject({ status: 'RETRY', result });
    }
  });

  it('autoretryFor retries listed errors with exponential backoff', async () => {
    app = memoryApp();
    const runs: number[] = [];
    const flaky = app.task(
      'tasks.flaky',
      () => {
        runs.push(performance.now());
        if (runs.length < 3) throw new Flaky('not yet');
        return 'ok';
      },
      { autoretryFor: [Flaky], retryBackoff: 0.1, retryJitter: false },
    );
    worker = await startWorker(app);
    const r = await flaky.delay();
    expect(await r.get({ timeout: 5000 })).toBe('ok');
    expect(runs).toHaveLength(3);
    // backoff: 0.1·2^0 = 100 ms, then 0.1·2^1 = 200 ms
    const [a = 0, b = 0, c = 0] = runs;
    expect(b - a).toBeGreaterThanOrEqual(95);
    expect(c - b).toBeGreaterThanOrEqual(195);
  });

  it('an error not listed in autoretryFor fails at once', async () => {
    app = memoryApp();
    let runs = 0;
    const t = app.task(
      'tasks.t',
      () => {
        runs++;
        throw new RangeError('no');
      },
      { autoretryFor: [Flaky] },
    );
    worker = await startWorker(app);
    const err = (await (await t.delay()).get({ timeout: 5000 }).catch((e: unknown) => e)) as Error;
    expect(err.name).toBe('RangeError');
    expect(runs).toBe(1);
  });
});

describe('ETA and expiry', () => {
  it('a countdown task does not run before its time', async () => {
    app = memoryApp();
    const stamp = app.task('tasks.stamp', () => Date.now());
    worker = await startWorker(app);
    const sent = Date.now();
    const r = await stamp.applyAsync([], {}, { countdown: 0.3 });
    const ranAt = await r.get({ timeout: 5000 });
    expect(ranAt - sent).toBeGreaterThanOrEqual(300);
  });

  it('an expired task is REVOKED instead of run', async () => {
    app = memoryApp();
    let ran = false;
    const t = app.task('tasks.t', () => {
      ran = true;
    });
    worker = await startWorker(app);
    const revokedSoon = nextEvent(worker, 'revoked');
    const r = await t.applyAsync([], {}, { countdown: 0.2, expires: 0.05 });
    const revoked = await revokedSoon;
    expect(revoked.reason).toBe('expired');
    const err = (await r.get({ timeout: 5000 }).catch((e: unknown) => e)) as RemoteTaskError;
    expect(err.name).toBe('TaskRevokedError');
    expect(err.remoteTraceback).toBeNull(); // as Celery's mark_as_revoked: a revoke has no traceback
    expect(r.state).toBe('REVOKED');
    expect(ran).toBe(false);
  });
});

describe('rate limits', () => {
  it("'5/s' spaces the starts of a task 200 ms apart", async () => {
    app = memoryApp();
    const starts: number[] = [];
    const limited = app.task(
      'tasks.limited',
      () => {
        starts.push(performance.now());
      },
      { rateLimit: '5/s' },
    );
    worker = await startWorker(app, { concurrency: 4 });
    const results = await Promise.all([1, 2, 3, 4].map(() => limited.delay()));
    await Promise.all(results.map((r) => r.get({ timeout: 5000 })));
    starts.sort((a, b) => a - b);
    const gaps = starts.slice(1).map((t, i) => t - (starts[i] ?? 0));
    expect(gaps).toHaveLength(3);
    for (const gap of gaps) expect(gap).toBeGreaterThanOrEqual(190);
  });
});

describe('time limits', () => {
  it('the soft time limit fires the task signal', async () => {
    app = memoryApp();
    const patient = app.task(
      'tasks.patient',
      (ctx: TaskContext) =>
        new Promise((resolve) => ctx.signal.addEventListener('abort', () => resolve((ctx.signal.reason as Error).name))),
      { softTimeLimit: 0.1 },
    );
    worker = await startWorker(app);
    expect(await (await patient.delay()).get({ timeout: 5000 })).toBe('SoftTimeLimitExceeded');
  });

  it('the hard time limit stores FAILURE TimeLimitExceeded and frees the slot for the next task', async () => {
    app = memoryApp();
    const never = gate();
    const stuck = app.task('tasks.stuck', () => never.wait, { timeLimit: 0.2 });
    const add = app.task(function add(x: number, y: number) {
      return x + y;
    });
    worker = await startWorker(app, { concurrency: 1 });
    const r1 = await stuck.delay();
    const r2 = await add.delay(1, 2);
    const err = (await r1.get({ timeout: 5000 }).catch((e: unknown) => e)) as RemoteTaskError;
    expect(err.name).toBe('TimeLimitExceeded');
    expect(err.excArgs).toEqual([0.2]);
    // Stopped from outside, as Celery's worker stops it: no traceback is stored (Celery stores none).
    expect(err.remoteTraceback).toBeNull();
    expect(await r2.get({ timeout: 5000 })).toBe(3);
    never.open();
  });

  it('a task that runs past its hard limit without yielding (synchronous work) still fails with TimeLimitExceeded', async () => {
    app = memoryApp();
    const busy = app.task(
      'tasks.busy',
      (ms: number) => {
        const until = Date.now() + ms;
        while (Date.now() < until) {
          // a synchronous stretch: no timer can fire meanwhile
        }
        return 'done';
      },
      { timeLimit: 0.1 },
    );
    worker = await startWorker(app, { concurrency: 1 });
    const err = (await (await busy.delay(300)).get({ timeout: 5000 }).catch((e: unknown) => e)) as RemoteTaskError;
    expect(err.name).toBe('TimeLimitExceeded');
    // A limit of 0 in the message (Python's apply_async(time_limit=0)) falls back to the task's, as in Celery.
    const zero = await publishFromPython(app, 'tasks.busy', [300], {}, { timelimit: [0, null] });
    const zeroErr = (await app
      .AsyncResult(zero)
      .get({ timeout: 5000 })
      .catch((e: unknown) => e)) as RemoteTaskError;
    expect(zeroErr.name).toBe('TimeLimitExceeded');
  });

  it('limits longer than a Node timer can hold (~24.8 days) are kept, not fired at once', async () => {
    app = memoryApp();
    const slow = gate();
    const month = 30 * 24 * 3600;
    const long = app.task('tasks.long', async (ctx: TaskContext) => {
      await slow.wait;
      return ctx.signal.aborted ? 'aborted' : 'finished';
    });
    worker = await startWorker(app);
    const started = nextEvent(worker, 'started');
    const r = await long.applyAsync([], {}, { timeLimit: 2 * month, softTimeLimit: month });
    try {
      await started;
      // An overflowing timer runs after 1 ms: give it well over that to fire, if it would.
      await new Promise((resolve) => setTimeout(resolve, 50));
    } finally {
      slow.open();
    }
    expect(await r.get({ timeout: 5000 })).toBe('finished');
  });
});
