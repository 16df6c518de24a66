/** Shared helpers for the core tests: a fresh app per test, and waiting on events with deadlines. */
import { expect } from 'vitest';
import type { EventEmitter } from 'node:events';
import { type App, type AppOptions, createApp } from '../../core/app.js';
import type { ExecutorEvent } from '../../core/executor.js';
import type { Worker, WorkerOptions } from '../../core/worker/worker.js';

let counter = 0;

/** A memory:// URL nobody else uses, so tests do not share queues. */
export function freshMemoryUrl(): string {
  return `memory://core-test-${process.pid}-${++counter}`;
}

const openApps: App[] = [];
const openWorkers: Worker[] = [];

export function memoryApp(settings: AppOptions = {}): App {
  const url = freshMemoryUrl();
  return testApp({ broker: url, backend: url, ...settings });
}

/** An app named 'tasks' that closeAppsAndWorkers closes. */
export function testApp(settings: AppOptions): App {
  const app = createApp('tasks', settings);
  openApps.push(app);
  return app;
}

export async function startWorker(app: App, opts: WorkerOptions = {}): Promise<Worker> {
  const worker = await app.worker({ hostname: 'w1@test', concurrency: 2, ...opts });
  openWorkers.push(worker);
  await worker.start();
  return worker;
}

/** For afterEach: stops every worker, then closes every app, that these helpers made. */
export async function closeAppsAndWorkers(): Promise<void> {
  for (const w of openWorkers.splice(0)) await w.stop();
  for (const a of openApps.splice(0)) await a.close();
}

/** Resolves with the next event of `type` (matching `where`), or fails after `timeoutMs`. */
export function nextEvent<T extends ExecutorEvent['type']>(
  emitter: EventEmitter,
  type: T,
  where: (e: Extract<ExecutorEvent, { type: T }>) => boolean = () => true,
  timeoutMs = 10_000,
): Promise<Extract<ExecutorEvent, { type: T }>> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      emitter.off(type, on);
      reject(new Error(`no '${type}' event within ${timeoutMs} ms`));
    }, timeoutMs);
    function on(e: Extract<ExecutorEvent, { type: T }>) {
      if (!where(e)) return;
      clearTimeout(timer);
      emitter.off(type, on);
      resolve(e);
    }
    emitter.on(type, on);
  });
}

/** Polls `check` until it returns true, or fails after `timeoutMs`. */
export async function until(check: () => boolean | Promise<boolean>, timeoutMs = 10_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`${what} not reached within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** A promise the test opens when it wants (a task waits on it). */
export function gate(): { wait: Promise<void>; open: () => void } {
  let open!: () => void;
  const wait = new Promise<void>((r) => {
    open = r;
  });
  return { wait, open };
}

/** The message of what `f` throws (checked to be a `type` when one is given); fails the test when it throws nothing. */
export function thrownMessage(f: () => unknown, type?: abstract new (...args: never[]) => Error): string {
  try {
    f();
  } catch (err) {
    if (type) expect(err).toBeInstanceOf(type);
    return (err as Error).message;
  }
  throw new Error('expected an error, none was thrown');
}
