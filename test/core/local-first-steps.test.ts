/** The same first steps on the embedded durable default, local://, in a temporary folder. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type App, createApp } from '../../core/app.js';
import type { RemoteTaskError } from '../../core/errors.js';
import type { TaskContext } from '../../core/task-context.js';
import type { Worker } from '../../core/worker/worker.js';
import { gate, nextEvent, startWorker } from './helpers.js';

let dir: string;
let producer: App;
let workerApp: App;
let worker: Worker | undefined;

/** Producer and worker are separate apps sharing only the folder, as two processes would. */
function apps(): { producer: App; workerApp: App } {
  const url = `local://${dir}`;
  const define = (a: App) => ({
    add: a.task(function add(x: number, y: number) {
      return x + y;
    }),
    fail: a.task('tasks.fail', () => {
      throw new Error('boom');
    }),
    again: a.task('tasks.again', (ctx: TaskContext) => (ctx.retries < 1 ? ctx.retry({ countdown: 0.05 }) : ctx.retries)),
  });
  const p = createApp('tasks', { broker: url, backend: url });
  const w = createApp('tasks', { broker: url, backend: url });
  define(p);
  define(w);
  return { producer: p, workerApp: w };
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'celeriac-core-'));
  ({ producer, workerApp } = apps());
});

afterEach(async () => {
  await worker?.stop();
  worker = undefined;
  await producer.close();
  await workerApp.close();
  rmSync(dir, { recursive: true, force: true });
});

/** A one-slot worker running tasks.slow, which returns 'slow' once `g` opens. */
async function runningSlowTask() {
  const g = gate();
  let runs = 0;
  workerApp.task('tasks.slow', async () => {
    runs++;
    await g.wait;
    return 'slow';
  });
  const w = await startWorker(workerApp, { concurrency: 1 });
  worker = w;
  const started = nextEvent(w, 'started');
  const first = await producer.sendTask('tasks.slow', []);
  await started;
  return { g, first, w, runs: () => runs };
}

describe('first steps on local://', () => {
  it('delay/get, a failure, and a retry go through the file store', async () => {
    worker = await startWorker(workerApp);
    expect(await (await producer.sendTask<(x: number, y: number) => number>('tasks.add', [4, 4])).get({ timeout: 10_000 })).toBe(8);
    const err = (await (await producer.sendTask('tasks.fail', [])).get({ timeout: 10_000 }).catch((e: unknown) => e)) as RemoteTaskError;
    expect(err.name).toBe('Error');
    expect(err.message).toBe('boom');
    expect(await (await producer.sendTask('tasks.again', [])).get({ timeout: 10_000 })).toBe(1);
  });

  it('a stopped worker hands back unstarted work, and the next worker runs it', async () => {
    const { g, first, w, runs } = await runningSlowTask();
    const received = nextEvent(w, 'received', (e) => e.name === 'tasks.add');
    const second = await producer.sendTask('tasks.add', [1, 2]);
    await received;
    const handedBack = nextEvent(w, 'handed-back');
    const stopping = w.stop();
    await handedBack;
    g.open();
    await stopping;
    expect(await first.get({ timeout: 10_000 })).toBe('slow');
    expect(await second.ready()).toBe(false);
    worker = await startWorker(workerApp, { hostname: 'w2@test' });
    expect(await second.get({ timeout: 10_000 })).toBe(3);
    expect(runs()).toBe(1);
  });

  it('a second stop() resolves only when the shutdown is complete, and app.close() stops a running worker first', async () => {
    const { g, first, w } = await runningSlowTask();
    let stopped = 0;
    const firstStop = w.stop().then(() => stopped++);
    // A later call, once the first has begun (its consumer stopped, the shutdown signalled).
    await new Promise((resolve) => setTimeout(resolve, 50));
    const stops = [firstStop, w.stop().then(() => stopped++)];
    // Neither stop() returns while the task runs; closing the app waits for the worker too.
    const closed = workerApp.close();
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(stopped).toBe(0);
    g.open();
    await Promise.all([...stops, closed]);
    expect(stopped).toBe(2);
    // Its result was stored before the app's connections closed.
    expect(await first.get({ timeout: 10_000 })).toBe('slow');
  });
});
