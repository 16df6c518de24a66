/**
 * The executor's settle rules, seen from the Delivery port: what it calls, in which order.
 * The delivery records calls; the backend is the real memory:// one (failures injected by wrapping it).
 */
import { describe, expect, it, vi } from 'vitest';
import { createApp } from '../../core/app.js';
import { type ExecutorDeps, executeDelivery } from '../../core/executor.js';
import { buildTaskMessage } from '../../core/message-builder.js';
import type { TaskMessage } from '../../core/message.js';
import type { Delivery, ResultBackend } from '../../core/ports.js';
import { MessageTooLarge } from '../../core/errors.js';
import { OverrideReader } from '../../core/executor/overrides.js';
import type { KeyValueResultBackend } from '../../core/kv-result-backend.js';
import { CACHE_MS, OverrideWriter, revokedKey } from '../../core/overrides.js';
import { RateLimiter } from '../../core/rate-limit.js';
import { Semaphore } from '../../core/worker/semaphore.js';
import { freshMemoryUrl, gate, until } from './helpers.js';

function message(name: string, extra: Partial<TaskMessage['headers']> = {}): TaskMessage {
  const m = buildTaskMessage({
    name,
    args: [2, 3],
    kwargs: {},
    queue: 'celery',
    call: {},
    task: {},
    defaults: { ignoreResult: false, priority: null, timeLimit: null, softTimeLimit: null },
    replyTo: 'test',
  });
  return { ...m, headers: { ...m.headers, ...extra } };
}

function recordingDelivery(m: TaskMessage, leaseMs?: number, receiveCount = 1) {
  const calls: string[] = [];
  const d: Delivery = {
    message: m,
    queue: 'celery',
    receiveCount,
    leaseMs,
    ack: async () => void calls.push('ack'),
    retryLater: async (ms, replacement) =>
      void calls.push(`retryLater(${ms > 0 ? '>0' : ms}${replacement ? `, retries=${replacement.headers.retries}` : ''})`),
    deadLetter: async (reason) => void calls.push(`deadLetter(${reason})`),
    extendLease: async () => void calls.push('extendLease'),
  };
  return { d, calls };
}

async function setup(fn: (...a: never[]) => unknown, options = {}, wrap: (b: ResultBackend) => ResultBackend = (b) => b) {
  const app = createApp('tasks', { broker: freshMemoryUrl(), backend: freshMemoryUrl() });
  const backend = wrap(await app.backend());
  const log: string[] = [];
  const deps: ExecutorDeps = {
    tasks: new Map([['tasks.t', { name: 'tasks.t', fn, options }]]),
    backend,
    settings: {
      acceptContent: ['json'],
      ignoreResult: false,
      trackStarted: false,
      acksLate: true,
      timeLimit: null,
      softTimeLimit: null,
      resultExtended: false,
      disableRateLimits: false,
    },
    rateLimiter: new RateLimiter(),
    slots: new Semaphore(1),
    hostname: 'w@test',
    isRevoked: () => false,
    onEvent: (e) => log.push(e.type),
  };
  return { app, backend, deps, log };
}

describe('executor', () => {
  it('stores SUCCESS before the ack (acks_late, the default)', async () => {
    const order: string[] = [];
    const { app, deps } = await setup(
      (x: number, y: number) => x + y,
      {},
      (b) =>
        ({
          ...b,
          url: b.url,
          store: async (id, meta) => {
            order.push(`store ${meta.status}`);
            await b.store(id, meta);
          },
          get: (id) => b.get(id),
        }) as ResultBackend,
    );
    const m = message('tasks.t');
    const { d, calls } = recordingDelivery(m);
    d.ack = async () => void order.push('ack');
    expect(await executeDelivery(d, deps)).toBe('acked');
    expect(order).toEqual(['store SUCCESS', 'ack']);
    expect(calls).toEqual([]);
    expect((await deps.backend.get(m.headers.id))?.result).toBe(5);
    await app.close();
  });

  it('a task with acksLate: false is acked before it runs', async () => {
    const order: string[] = [];
    const { app, deps } = await setup(() => void order.push('run'), { acksLate: false });
    const { d } = recordingDelivery(message('tasks.t'));
    d.ack = async () => void order.push('ack');
    await executeDelivery(d, deps);
    expect(order).toEqual(['ack', 'run']);
    await app.close();
  });

  it('a result that cannot be stored is not acked: the message is handed back', async () => {
    const { app, deps, log } = await setup(
      () => 1,
      {},
      (b) => ({ url: b.url, store: async () => Promise.reject(new Error('disk full')), get: b.get.bind(b) }) as unknown as ResultBackend,
    );
    const { d, calls } = recordingDelivery(message('tasks.t'));
    expect(await executeDelivery(d, deps)).toBe('store-failed');
    expect(calls).toEqual(['retryLater(>0)']);
    expect(log).toContain('internal-error');
    expect(log).not.toContain('succeeded');
    await app.close();
  });

  it('a message whose ETA is ahead is handed back for the remaining time, not held', async () => {
    let ran = false;
    const { app, deps } = await setup(() => {
      ran = true;
    });
    const { d, calls } = recordingDelivery(message('tasks.t', { eta: new Date(Date.now() + 60_000).toISOString() }));
    expect(await executeDelivery(d, deps)).toBe('deferred');
    expect(calls).toEqual(['retryLater(>0)']);
    expect(ran).toBe(false);
    await app.close();
  });

  it('a retry hands the message back with retries+1', async () => {
    const { app, deps } = await setup((_x: number, _y: number, ctx: { retry(o: object): never }) => ctx.retry({ countdown: 1 }));
    const m = message('tasks.t');
    const { d, calls } = recordingDelivery(m);
    expect(await executeDelivery(d, deps)).toBe('retried');
    expect(calls).toEqual(['retryLater(>0, retries=1)']);
    expect((await deps.backend.get(m.headers.id))?.status).toBe('RETRY');
    // As in Celery, a RETRY's result is the error given to retry(), rebuilt; here none was given: None.
    const r = app.AsyncResult(m.headers.id);
    await r.refresh();
    expect(r.result).toBeNull();
    await app.close();
  });

  it('the lease is extended while a long task runs', async () => {
    const g = gate();
    const { app, deps } = await setup(() => g.wait);
    const { d, calls } = recordingDelivery(message('tasks.t'), 60);
    const done = executeDelivery(d, deps);
    await until(() => calls.filter((c) => c === 'extendLease').length >= 2, 5000, 'two lease extensions');
    g.open();
    expect(await done).toBe('acked');
    await app.close();
  });

  it('a revoked id is stored REVOKED and acked without running', async () => {
    let ran = false;
    const { app, deps } = await setup(() => {
      ran = true;
    });
    const m = message('tasks.t');
    deps.isRevoked = (id) => id === m.headers.id;
    const { d, calls } = recordingDelivery(m);
    expect(await executeDelivery(d, deps)).toBe('acked');
    expect(calls).toEqual(['ack']);
    expect(ran).toBe(false);
    expect((await deps.backend.get(m.headers.id))?.result).toEqual({
      exc_type: 'TaskRevokedError',
      exc_message: ['revoked'],
      exc_module: 'celery.exceptions',
    });
    await app.close();
  });

  it('a late duplicate delivery that fails does not replace a SUCCESS (as Celery never does)', async () => {
    let runs = 0;
    const { app, deps } = await setup(() => {
      runs++;
      if (runs > 1) throw new TypeError('the second run failed');
      return 'first';
    });
    const m = message('tasks.t');
    expect(await executeDelivery(recordingDelivery(m).d, deps)).toBe('acked');
    expect(await executeDelivery(recordingDelivery(m).d, deps)).toBe('acked');
    expect(runs).toBe(2);
    expect(await deps.backend.get(m.headers.id)).toMatchObject({ status: 'SUCCESS', result: 'first' });
    await app.close();
  });

  it('a return value whose then getter throws fails the task with that error, as awaiting it would: acked, not handed back forever', async () => {
    const { app, deps, log } = await setup(() => ({
      // biome-ignore lint/suspicious/noThenProperty: the case is a value with a then getter that throws
      get then() {
        throw new RangeError('then getter boom');
      },
    }));
    const m = message('tasks.t');
    const { d, calls } = recordingDelivery(m);
    expect(await executeDelivery(d, deps)).toBe('acked');
    expect(calls).toEqual(['ack']);
    expect(log).toContain('failed');
    expect(await deps.backend.get(m.headers.id)).toMatchObject({
      status: 'FAILURE',
      result: { exc_type: 'RangeError', exc_message: ['then getter boom'] },
    });
    await app.close();
  });

  it('an error whose stack getter throws is stored and reported failed', async () => {
    const error = new TypeError('no stack for you');
    Object.defineProperty(error, 'stack', {
      get() {
        throw new Error('stack getter boom');
      },
    });
    const { app, deps, log } = await setup(() => {
      throw error;
    });
    const m = message('tasks.t');
    expect(await executeDelivery(recordingDelivery(m).d, deps)).toBe('acked');
    expect(log).toContain('failed');
    expect(log).not.toContain('internal-error');
    expect(await deps.backend.get(m.headers.id)).toMatchObject({ status: 'FAILURE', traceback: null });
    await app.close();
  });

  it('a message delivered again after its task succeeded (its ack lost) is acked without running it again; a first delivery always runs', async () => {
    let runs = 0;
    const { app, deps, log } = await setup(() => ++runs);
    const m = message('tasks.t');
    expect(await executeDelivery(recordingDelivery(m).d, deps)).toBe('acked');
    const again = recordingDelivery(m, undefined, 2);
    expect(await executeDelivery(again.d, deps)).toBe('acked');
    expect(again.calls).toEqual(['ack']);
    expect([runs, log.filter((type) => type === 'duplicate').length]).toEqual([1, 1]);
    // Delivered again without a SUCCESS stored (killed mid-run), it runs.
    const killed = message('tasks.t');
    expect(await executeDelivery(recordingDelivery(killed, undefined, 2).d, deps)).toBe('acked');
    expect(runs).toBe(2);
    await app.close();
  });

  it('args result_extended cannot write (nested 10,000 deep) fail the task, stored without them, and ack: not handed back forever', async () => {
    const { app, deps } = await setup((_x: unknown) => 'ok');
    const m = { ...message('tasks.t'), body: `[[${'['.repeat(10_000)}${']'.repeat(10_000)}], {}, {}]` };
    const { d, calls } = recordingDelivery(m);
    expect(await executeDelivery(d, { ...deps, settings: { ...deps.settings, resultExtended: true } })).toBe('acked');
    expect(calls).toEqual(['ack']);
    const meta = await deps.backend.get(m.headers.id);
    const why =
      /^Cannot write the result of task .+ as JSON: Maximum call stack size exceeded \(it is nested too deeply, or too large\)\.$/;
    expect(meta).toMatchObject({
      status: 'FAILURE',
      result: { exc_type: 'SerializationError', exc_message: [expect.stringMatching(why)] },
    });
    expect(meta).not.toHaveProperty('args');
    await app.close();
  });

  it('a next step no message can carry (args nested 10,000 deep, a countdown of 1e300 s) fails the task and acks: not handed back forever', async () => {
    const deep = `${'['.repeat(10_000)}${']'.repeat(10_000)}`;
    for (const [step, excType, why] of [
      [`"args": [${deep}], "options": {}`, 'SerializationError', /^Cannot write args as JSON: Maximum call stack size exceeded/],
      [
        '"args": [], "options": {"countdown": 1e300}',
        'ConfigError',
        /^sending tasks\.t: countdown: expected seconds from now \(got 1e\+300\)$/,
      ],
    ] as const) {
      const { app, deps } = await setup(() => 'ok');
      const chain = `[{"task": "tasks.t", ${step}, "kwargs": {}, "subtask_type": null, "immutable": false}]`;
      const m = { ...message('tasks.t'), body: `[[], {}, {"callbacks": null, "errbacks": null, "chain": ${chain}, "chord": null}]` };
      const { d, calls } = recordingDelivery(m);
      expect(await executeDelivery(d, { ...deps, sendFollowUp: (f) => app.sendFollowUp(f) })).toBe('acked');
      expect(calls).toEqual(['ack']);
      const meta = await deps.backend.get(m.headers.id);
      expect(meta).toMatchObject({ status: 'FAILURE', result: { exc_type: excType, exc_message: [expect.stringMatching(why)] } });
      await app.close();
    }
  });

  it('a retry the broker refuses for good fails the task instead of coming back forever', async () => {
    const { app, deps } = await setup((_x: number, _y: number, ctx: { retry(): never }) => ctx.retry());
    const m = message('tasks.t');
    const { d, calls } = recordingDelivery(m);
    d.retryLater = async () => {
      calls.push('retryLater');
      throw new MessageTooLarge('the retry is 300000 bytes; the queue takes at most 262144');
    };
    expect(await executeDelivery(d, deps)).toBe('acked');
    expect(calls).toEqual(['retryLater', 'ack']);
    const meta = await deps.backend.get(m.headers.id);
    expect(meta?.status).toBe('FAILURE');
    expect(meta?.result).toMatchObject({
      exc_type: 'MessageTooLarge',
      exc_message: ['the retry is 300000 bytes; the queue takes at most 262144'],
    });
    await app.close();
  });
});

describe('executor with a deadline (a function invocation)', () => {
  const waitForLimit = (_x: number, _y: number, ctx: { signal: AbortSignal }) =>
    new Promise((_, reject) => ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason)));

  it('a task that started late and is stopped by the time left is handed back, not failed', async () => {
    const { app, deps, log } = await setup(waitForLimit);
    const started = Date.now();
    Object.assign(deps, { timeLeftMs: () => 150 - (Date.now() - started), timeBudgetMs: 2000 });
    const m = message('tasks.t');
    const { d, calls } = recordingDelivery(m);
    expect(await executeDelivery(d, deps)).toBe('handed-back');
    expect(calls).toEqual(['retryLater(0)']);
    expect(log).toContain('handed-back');
    expect(await deps.backend.get(m.headers.id)).toBeUndefined();
    await app.close();
  });

  it('a synchronous task that started late and ran past the deadline is handed back, not failed with TimeLimitExceeded', async () => {
    const { app, deps } = await setup(() => {
      const until = Date.now() + 300; // never yields: neither limit's timer can fire before it returns
      while (Date.now() < until);
      return 42;
    });
    const started = Date.now();
    const left = () => 100 - (Date.now() - started);
    Object.assign(deps, { timeLeftMs: left, hardTimeLeftMs: () => left() + 50, timeBudgetMs: 2000 });
    const m = message('tasks.t');
    const { d, calls } = recordingDelivery(m);
    expect(await executeDelivery(d, deps)).toBe('handed-back');
    expect(calls).toEqual(['retryLater(0)']);
    expect(await deps.backend.get(m.headers.id)).toBeUndefined();
    await app.close();
  });

  it('a task that had the whole invocation and still ran out fails with SoftTimeLimitExceeded', async () => {
    const { app, deps } = await setup(waitForLimit);
    const started = Date.now();
    Object.assign(deps, { timeLeftMs: () => 150 - (Date.now() - started), timeBudgetMs: 150 });
    const m = message('tasks.t');
    const { d, calls } = recordingDelivery(m);
    expect(await executeDelivery(d, deps)).toBe('acked');
    expect(calls).toEqual(['ack']);
    const meta = await deps.backend.get(m.headers.id);
    // In whole milliseconds: the limit is not printed as 0.14959999999999998.
    expect(meta?.result).toMatchObject({ exc_type: 'SoftTimeLimitExceeded' });
    const [limit] = (meta?.result as { exc_message: unknown[] } | undefined)?.exc_message ?? [];
    expect(String(limit)).toMatch(/^0\.1\d{0,2}$/);
    await app.close();
  });

  it('a task that finds no time left is handed back without running', async () => {
    let ran = false;
    const { app, deps } = await setup(() => {
      ran = true;
    });
    Object.assign(deps, { timeLeftMs: () => -5, timeBudgetMs: 2000 });
    const { d, calls } = recordingDelivery(message('tasks.t'));
    expect(await executeDelivery(d, deps)).toBe('handed-back');
    expect(calls).toEqual(['retryLater(0)']);
    expect(ran).toBe(false);
    await app.close();
  });

  it('a task whose rate limit allows its next run only after the deadline is handed back until then, not waited for', async () => {
    const { app, deps } = await setup((x: number, y: number) => x + y);
    deps.rateLimiter.set('tasks.t', '1/m');
    Object.assign(deps, { timeLeftMs: () => 2000, timeBudgetMs: 2000 });
    const first = recordingDelivery(message('tasks.t'));
    expect(await executeDelivery(first.d, deps)).toBe('acked');
    const second = recordingDelivery(message('tasks.t'));
    const t0 = Date.now();
    expect(await executeDelivery(second.d, deps)).toBe('handed-back');
    expect(Date.now() - t0).toBeLessThan(1000);
    // Handed back for the rest of the minute its token needs.
    expect(second.calls).toEqual(['retryLater(>0)']);
    await app.close();
  });
});

/** A driver without a control channel (SQS, Pub/Sub): revokes and rate limits come from the result store (core/overrides.ts). */
describe('executor with overrides in the result store', () => {
  async function storeBacked(fn: (...a: never[]) => unknown) {
    const setUp = await setup(fn);
    const { kv } = setUp.backend as KeyValueResultBackend;
    const overrides = new OverrideReader(kv, setUp.deps.rateLimiter);
    Object.assign(setUp.deps, { overrides, isRevoked: (id: string) => overrides.isRevoked(id) });
    return { ...setUp, kv, control: new OverrideWriter(kv) };
  }

  it('a task revoked while it waits for a run slot ends REVOKED, unrun', async () => {
    const g = gate();
    let runs = 0;
    const { app, deps, control } = await storeBacked(async () => {
      if (++runs === 1) await g.wait;
    });
    const first = executeDelivery(recordingDelivery(message('tasks.t')).d, deps);
    await until(() => runs === 1);
    const m = message('tasks.t');
    const waiting = executeDelivery(recordingDelivery(m).d, deps); // reads the store before the revoke, then waits for the slot
    await control.revoke([m.headers.id]);
    await new Promise((r) => setTimeout(r, CACHE_MS + 100)); // past what the first read is trusted for
    g.open();
    expect(await first).toBe('acked');
    expect(await waiting).toBe('acked');
    expect(runs).toBe(1);
    expect((await deps.backend.get(m.headers.id))?.status).toBe('REVOKED');
    await app.close();
  });

  it('a task that waited for a slot reads its revoked key again only if a revoke came meanwhile', async () => {
    const g = gate();
    let runs = 0;
    const { app, deps, kv, control } = await storeBacked(async () => {
      if (++runs === 1) await g.wait;
    });
    await control.revoke(['some-other-task']); // a revoke is live: every task's id is looked up
    const first = executeDelivery(recordingDelivery(message('tasks.t')).d, deps);
    await until(() => runs === 1);
    const m = message('tasks.t');
    const reads = vi.spyOn(kv, 'get');
    const waiting = executeDelivery(recordingDelivery(m).d, deps);
    await new Promise((r) => setTimeout(r, CACHE_MS + 100)); // the counter is read again after the wait, unchanged
    g.open();
    expect(await Promise.all([first, waiting])).toEqual(['acked', 'acked']);
    expect(runs).toBe(2);
    expect(reads.mock.calls.filter(([key]) => key === revokedKey(m.headers.id))).toHaveLength(1);
    await app.close();
  });

  it('a rate limit lifted in the store releases the tasks already waiting for a token, and reading stops when none waits', async () => {
    let runs = 0;
    const { app, deps, kv, control } = await storeBacked(() => void runs++);
    deps.slots = new Semaphore(3);
    deps.rateLimiter.set('tasks.t', '1/m');
    const fates = Array.from({ length: 3 }, () => executeDelivery(recordingDelivery(message('tasks.t')).d, deps));
    await until(() => runs === 1);
    await control.setRateLimit('tasks.t', 0);
    // The two waiting for the next minutes' tokens learn of it within about CACHE_MS.
    await until(() => runs === 3, 3 * CACHE_MS, 'the waiting tasks run');
    expect(await Promise.all(fates)).toEqual(['acked', 'acked', 'acked']);
    const reads = vi.spyOn(kv, 'get');
    await new Promise((r) => setTimeout(r, 2 * CACHE_MS));
    expect(reads).not.toHaveBeenCalled();
    await app.close();
  });
});
