/**
 * `celeriac worker` and `celeriac control` on sqs:// + dynamodb:// (fauxqs and dynalite): an idle
 * worker's SIGTERM lets its long poll finish and hands back what it brings; rate_limit through
 * the result store answers for a task the app (-A) does not define as a worker would.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../core/app.js';
import { eventually } from '../conformance/index.js';
import { type Emulator, startDynalite, startFauxqs, useEmulatorEnvironment } from '../support/aws-emulators.js';
import { WorkerProcess, celeriac, ensureBuilt, makeProject } from './harness.js';

useEmulatorEnvironment();
let fauxqs: Emulator;
let dynalite: Emulator;
let project: ReturnType<typeof makeProject>;
const workers: WorkerProcess[] = [];

beforeAll(async () => {
  [fauxqs, dynalite] = await Promise.all([startFauxqs(), startDynalite(), ensureBuilt()]);
  project = makeProject();
}, 240_000);
afterEach(async () => {
  for (const w of workers.splice(0)) {
    w.kill('SIGKILL');
    await w.exit().catch(() => undefined);
  }
});
afterAll(async () => {
  project?.cleanup();
  await Promise.all([fauxqs?.stop(), dynalite?.stop()]);
});

/** Each test's own queues (under a prefix) and result table; long polls of 5 s, leases of 60 s. */
function urls() {
  const prefix = `c${randomUUID().slice(0, 6)}-`;
  return {
    broker: `sqs://?endpoint=${fauxqs.endpoint}&prefix=${prefix}&create=true&wait_time_seconds=5&visibility_timeout=60`,
    backend: `dynamodb://results-${prefix}x?endpoint=${dynalite.endpoint}&create=true`,
  };
}

describe('celeriac on sqs://', () => {
  const worker = (name: string, { broker, backend }: ReturnType<typeof urls>) => {
    const w = new WorkerProcess(project.dir, ['-A', 'tasks', '-b', broker, '--result-backend', backend, '-n', name, '--loglevel=info']);
    workers.push(w);
    return w;
  };

  it('SIGTERM to an idle worker exits 0 within its long poll, and a message sent meanwhile is run by another worker at once', async () => {
    const { broker, backend } = urls();
    const start = (name: string) => worker(name, { broker, backend });
    const producer = createApp('tasks', { broker, backend });
    try {
      const first = start('first@test');
      await first.ready();
      first.kill('SIGTERM');
      const stopping = Date.now();
      await first.waitFor(/warm shutdown/i);
      // Sent 2.5 s into the stop: into the worker's last long poll (5 s).
      await eventually('2.5 s into the stop', () => Date.now() - stopping >= 2500, 5000);
      const sent = await producer.sendTask('tasks.add', [2, 3]);
      const outcome = await first.exit(10_000);
      expect(outcome.code).toBe(0);
      expect(Date.now() - stopping).toBeLessThan(5000 + 2000);
      expect(outcome.stderr).not.toMatch(/succeeded|did not stop in time/);
      const next = start('next@test');
      await next.ready();
      // Not after the 60 s lease.
      expect(await sent.get({ timeout: 10_000 })).toBe(5);
    } finally {
      await producer.close();
    }
  });

  it('control rate_limit -A for a task the app does not define answers "unknown task", as a worker does, and exits 1', async () => {
    const { broker, backend } = urls();
    const args = (task: string) => ['control', 'rate_limit', task, '1/s', '-A', 'tasks', '-b', broker, '--result-backend', backend];
    const unknown = await celeriac(project.dir, args('tasks.nope'));
    expect(unknown.stdout).toBe('celeriac@store: ERROR\n    unknown task\n');
    expect(unknown.code).toBe(1);
    const known = await celeriac(project.dir, args('tasks.add'));
    expect(known.stdout).toBe('celeriac@store: OK\n    new rate limit set successfully\n');
    expect(known.code).toBe(0);
  });
});
