/** Sending many calls of one task at once: applyMany / sendMany. */
import { afterEach, describe, expect, it } from 'vitest';
import type { App } from '../../core/app.js';
import { ConfigError } from '../../core/errors.js';
import type { TaskMessage } from '../../core/message.js';
import { closeAppsAndWorkers, memoryApp, startWorker } from './helpers.js';

let app: App;

afterEach(closeAppsAndWorkers);

/** Records every publish call the app's broker gets: [queue, message count]. */
async function recordPublishes(a: App): Promise<Array<[string, number]>> {
  const broker = await a.broker();
  const calls: Array<[string, number]> = [];
  const publish = broker.publish.bind(broker);
  broker.publish = (queue: string, messages: TaskMessage[]) => {
    calls.push([queue, messages.length]);
    return publish(queue, messages);
  };
  return calls;
}

describe('applyMany', () => {
  it('sends one task per argument list and returns their results in the same order', async () => {
    app = memoryApp();
    const add = app.task(function add(x: number, y: number) {
      return x + y;
    });
    await startWorker(app);
    const results = await add.applyMany([
      [1, 2],
      [3, 4],
      [5, 6],
    ]);
    expect(new Set(results.map((r) => r.id)).size).toBe(3);
    expect(await Promise.all(results.map((r) => r.get({ timeout: 5000 })))).toEqual([3, 7, 11]);
  });

  it('publishes one batch per queue, routed call by call', async () => {
    app = memoryApp({ task_routes: (_name: string, args: unknown[]) => ((args[0] as number) % 2 ? 'odd' : undefined) });
    const double = app.task('tasks.double', (n: number) => n * 2);
    const calls = await recordPublishes(app);
    const results = await double.applyMany([[1], [2], [3], [4], [5]], { priority: 5 });
    expect(calls.sort()).toEqual([
      ['celery', 2],
      ['odd', 3],
    ]);
    expect(results.map((r) => r.sent?.queue)).toEqual(['odd', 'celery', 'odd', 'celery', 'odd']);
    await startWorker(app, { queues: ['celery', 'odd'] });
    expect(await Promise.all(results.map((r) => r.get({ timeout: 5000 })))).toEqual([2, 4, 6, 8, 10]);
  });

  it('sendMany sends by name; a shared taskId is refused', async () => {
    app = memoryApp();
    const add = app.task(function add(x: number, y: number) {
      return x + y;
    });
    await startWorker(app);
    const results = await app.sendMany<typeof add>('tasks.add', [
      [2, 2],
      [4, 4],
    ]);
    expect(await Promise.all(results.map((r) => r.get({ timeout: 5000 })))).toEqual([4, 8]);
    await expect(app.sendMany<typeof add>('tasks.add', [[1, 1]], { taskId: 'same-for-all' })).rejects.toThrow(ConfigError);
    // @ts-expect-error each entry is the task's positional arguments
    void (() => add.applyMany([['1', 2]]));
  });
});
