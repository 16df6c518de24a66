/**
 * The worker process's life: its pidfile, a graceful SIGTERM, and a SIGKILL mid-task on
 * local:// after which a new worker completes the task exactly once (issue 2, "Done when").
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { celeriac, ensureBuilt, makeProject, poll, WorkerProcess } from './harness.js';

let project: ReturnType<typeof makeProject>;
const workers: WorkerProcess[] = [];

function startWorker(...args: string[]): WorkerProcess {
  const w = new WorkerProcess(project.dir, ['-A', 'tasks', '--loglevel=info', ...args]);
  workers.push(w);
  return w;
}

const markers = (prefix: 'start' | 'finish') => readdirSync(join(project.dir, 'markers')).filter((f) => f.startsWith(prefix));

function waitForMarkers(prefix: 'start' | 'finish', count: number, timeoutMs = 30_000): Promise<string[]> {
  return poll(
    () => (markers(prefix).length >= count ? markers(prefix) : undefined),
    timeoutMs,
    () => `expected ${count} ${prefix} marker(s), found ${markers(prefix).length}`,
  );
}

beforeAll(ensureBuilt, 240_000);
beforeEach(() => {
  project = makeProject();
});
afterEach(async () => {
  for (const w of workers.splice(0)) {
    w.kill('SIGKILL');
    await w.exit().catch(() => undefined);
  }
  project.cleanup();
});

describe('worker --pidfile', () => {
  it('a second worker with the same pidfile refuses to start, naming the holder', async () => {
    const first = startWorker('--pidfile', 'w.pid', '-n', 'a@test');
    await first.ready();
    const pid = readFileSync(join(project.dir, 'w.pid'), 'utf8').trim();
    expect(pid).toBe(String(first.child.pid));

    const second = startWorker('--pidfile', 'w.pid', '-n', 'b@test');
    const refused = await second.exit();
    expect(refused.code).toBe(1);
    expect(refused.stderr.trim()).toMatch(new RegExp(`^error: Pidfile .*w\\.pid is held by a running process \\(pid ${pid}\\)`));
    expect(refused.stdout).not.toContain('[tasks]'); // refused before starting anything

    first.kill('SIGTERM');
    expect((await first.exit()).code).toBe(0);
    expect(existsSync(join(project.dir, 'w.pid'))).toBe(false); // removed on exit
  });

  it("two workers with --pidfile '%n.pid' (Celery's daemon layout) each get their own file, named after the node", async () => {
    const [w1, w2] = ['w1', 'w2'].map((n) => startWorker('--pidfile', '%n.pid', '--logfile', '%n%I.log', '-n', `${n}@%h`));
    await Promise.all([w1?.waitFor(/./), w2?.waitFor(/./)]);
    await poll(
      () => (existsSync(join(project.dir, 'w1.log')) && existsSync(join(project.dir, 'w2.log')) ? true : undefined),
      30_000,
      () => `log files: ${readdirSync(project.dir).join(', ')}`,
    );
    expect(readFileSync(join(project.dir, 'w1.pid'), 'utf8').trim()).toBe(String(w1?.child.pid));
    expect(readFileSync(join(project.dir, 'w2.pid'), 'utf8').trim()).toBe(String(w2?.child.pid));
  });

  it('a pidfile left by a killed worker is taken over', async () => {
    const crashed = startWorker('--pidfile', 'w.pid', '-n', 'a@test');
    await crashed.ready();
    crashed.kill('SIGKILL');
    await crashed.exit();
    expect(existsSync(join(project.dir, 'w.pid'))).toBe(true);

    const next = startWorker('--pidfile', 'w.pid', '-n', 'a@test');
    await next.ready();
    expect(readFileSync(join(project.dir, 'w.pid'), 'utf8').trim()).toBe(String(next.child.pid));
  });
});

describe('worker shutdown', () => {
  it('SIGTERM finishes the running task and exits 0 within the grace period', async () => {
    const w = startWorker('-n', 'a@test', '-c', '1');
    await w.ready();
    const sent = await celeriac(project.dir, ['call', 'tasks.marked', JSON.stringify([join(project.dir, 'markers'), 1000])]);
    const id = sent.stdout.trim();
    await waitForMarkers('start', 1);

    w.kill('SIGTERM');
    const done = await w.exit(20_000);
    expect(done.code).toBe(0);
    expect(done.stderr).toContain('Warm shutdown');
    expect(markers('finish')).toHaveLength(1);
    expect(done.stderr).toMatch(new RegExp(`Task tasks\\.marked\\[${id}\\] succeeded`));
    expect((await celeriac(project.dir, ['result', id])).stdout).toBe('1000\n');
  });

  it('a stray promise rejection is logged and the worker goes on; an uncaught exception is logged and shuts it down warm, exit 1', async () => {
    const w = startWorker();
    await w.ready();
    expect(
      (await celeriac(project.dir, ['call', 'tasks.strayRejection', '[]', '--wait', '--timeout', '30', '-A', 'tasks'])).stdout,
    ).toContain('"returned"');
    await w.waitFor(
      /ERROR.*Unhandled promise rejection \(a promise nobody awaited or caught\); the worker goes on: Error: nobody awaited me/,
    );
    expect((await celeriac(project.dir, ['call', 'tasks.add', '[2, 3]', '--wait', '--timeout', '30', '-A', 'tasks'])).stdout).toContain(
      '5',
    );
    await celeriac(project.dir, ['call', 'tasks.strayThrow', '[]', '-A', 'tasks']);
    await w.waitFor(/ERROR.*Uncaught exception outside any task; shutting down: Error: thrown from a timer/);
    const outcome = await w.exit();
    expect(outcome.code).toBe(1);
    expect(outcome.stderr).toContain('Warm shutdown');
  });

  it('a worker whose stdout/stderr reader is gone still runs tasks and stops warm on SIGTERM', async () => {
    const w = startWorker('-n', 'a@test', '-c', '1');
    await w.ready();
    w.closeOutput();
    // Every task logs lines to the dead pipe: before, the first one left the worker spinning on EPIPE.
    for (const [args, sum] of [
      ['[2, 3]', '5'],
      ['[4, 5]', '9'],
    ] as const) {
      const call = await celeriac(project.dir, ['call', 'tasks.add', args, '--wait', '--timeout', '15', '-A', 'tasks']);
      expect(call.stdout, `tasks.add${args}: ${call.stderr}`).toContain(sum);
    }
    w.kill('SIGTERM');
    expect((await w.exit(10_000)).code).toBe(0);
  });

  it('a second SIGINT exits at once, hands the running task back and still removes the pidfile', async () => {
    const w = startWorker('-n', 'a@test', '-c', '1', '--pidfile', 'w.pid');
    await w.ready();
    const sent = await celeriac(project.dir, ['call', 'tasks.marked', JSON.stringify([join(project.dir, 'markers'), 5000])]);
    await waitForMarkers('start', 1);
    w.kill('SIGINT');
    await w.waitFor(/Warm shutdown/);
    w.kill('SIGINT');
    const done = await w.exit(10_000); // far less than the 30 s grace period
    expect(done.code).toBe(130);
    expect(done.stderr).toContain('Cold shutdown');
    expect(markers('finish')).toHaveLength(0);
    expect(existsSync(join(project.dir, 'w.pid'))).toBe(false);
    // Handed back, not left to its one-hour lease: the next worker runs it now.
    const next = startWorker('-n', 'b@test', '-c', '1');
    await next.waitFor(new RegExp(`Task tasks\\.marked\\[${sent.stdout.trim()}\\] succeeded`), 30_000);
  });
});

describe('worker signals beside SIGTERM and SIGINT, as Celery 5.2', () => {
  const runMarked = async (w: WorkerProcess, ms: number) => {
    await w.ready();
    const sent = await celeriac(project.dir, ['call', 'tasks.marked', JSON.stringify([join(project.dir, 'markers'), ms])]);
    await waitForMarkers('start', 1);
    return sent.stdout.trim();
  };

  it('SIGQUIT is a cold shutdown: the running task is handed back at once and the worker exits 0', async () => {
    const w = startWorker('-n', 'a@test', '-c', '1', '--pidfile', 'w.pid');
    const id = await runMarked(w, 5000);
    w.kill('SIGQUIT');
    const done = await w.exit(4000); // well before the task would end
    expect([done.code, done.signal]).toEqual([0, null]);
    expect(done.stderr).toContain('Cold shutdown');
    expect(markers('finish')).toHaveLength(0);
    expect(existsSync(join(project.dir, 'w.pid'))).toBe(false);
    // Handed back, not left to its one-hour lease: the next worker runs it now.
    const next = startWorker('-n', 'b@test', '-c', '1');
    await next.waitFor(new RegExp(`Task tasks\\.marked\\[${id}\\] succeeded`), 30_000);
  });

  it('SIGHUP shuts down warm (the running task finishes), exit 0, saying the supervisor restarts it', async () => {
    const w = startWorker('-n', 'a@test', '-c', '1');
    await runMarked(w, 1000);
    w.kill('SIGHUP');
    const done = await w.exit(20_000);
    expect([done.code, done.signal]).toEqual([0, null]);
    expect(done.stderr).toMatch(/WARNING.*SIGHUP: celeriac does not restart itself/);
    expect(done.stderr).toContain('Warm shutdown');
    expect(markers('finish')).toHaveLength(1);
  });

  it("SIGUSR1 logs the running tasks and does not open Node's inspector", async () => {
    const w = startWorker('-n', 'a@test', '-c', '1');
    const id = await runMarked(w, 3000);
    w.kill('SIGUSR1');
    await w.waitFor(new RegExp(`SIGUSR1: 1 running task\\(s\\)\\n  tasks\\.marked\\[${id}\\] running for`));
    await w.waitFor(new RegExp(`Task tasks\\.marked\\[${id}\\] succeeded`));
    expect(w.output).not.toContain('Debugger listening');
    w.kill('SIGTERM');
    expect((await w.exit(10_000)).code).toBe(0);
  });
});

describe('worker start-up', () => {
  /** A stop while the worker starts: a quick exit 0, with no error logged. */
  const expectCleanStop = async (w: WorkerProcess, label: string) => {
    const sentAt = Date.now();
    w.kill('SIGTERM');
    const done = await w.exit(10_000);
    expect({ label, code: done.code, signal: done.signal, output: done.stderr.match(/.*(ERROR|error:).*/)?.[0] }).toEqual({
      label,
      code: 0,
      signal: null,
      output: undefined,
    });
    expect(Date.now() - sentAt, label).toBeLessThan(2500);
  };

  it('SIGTERM at any moment of the start (connecting, listening, mingling, consuming) exits 0 at once, with no false "Could not reach"', async () => {
    const redis = ['-b', 'redis://127.0.0.1:6379/6', '--result-backend', 'redis://127.0.0.1:6379/6', '-Q', 'startup'];
    for (const afterMs of [0, 5, 10, 20, 40, 80]) {
      const w = startWorker(...redis);
      await w.waitFor(/\[tasks\]/);
      await new Promise((r) => setTimeout(r, afterMs));
      await expectCleanStop(w, `${afterMs} ms after the banner`);
    }
  });
});

describe('worker crash', () => {
  it('a task whose worker is SIGKILLed mid-run completes exactly once in the next worker', { timeout: 180_000 }, async () => {
    // A short visibility timeout (broker URL query) brings the unacked message back quickly.
    const broker = ['--broker', 'local://.celeriac?visibility_timeout=2'];
    const first = startWorker('-n', 'a@test', '-c', '1', ...broker);
    await first.ready();
    // Runs longer than the visibility timeout: the surviving worker must keep its lease.
    const sent = await celeriac(project.dir, ['call', 'tasks.marked', JSON.stringify([join(project.dir, 'markers'), 2500]), ...broker]);
    expect(sent.code).toBe(0);
    const id = sent.stdout.trim();
    await waitForMarkers('start', 1);
    first.kill('SIGKILL');
    expect((await first.exit()).signal).toBe('SIGKILL');
    expect(markers('finish')).toHaveLength(0);

    const second = startWorker('-n', 'b@test', '-c', '1', ...broker);
    await second.waitFor(new RegExp(`Task tasks\\.marked\\[${id}\\] succeeded`), 60_000);
    second.kill('SIGTERM');
    expect((await second.exit()).code).toBe(0);

    expect(markers('start')).toHaveLength(2); // the killed run and the completed one
    expect(markers('finish')).toHaveLength(1);
    expect((await celeriac(project.dir, ['result', id, '-A', 'tasks', ...broker])).stdout).toBe('2500\n');
    // Acked, not merely finished: nothing is left waiting to run again.
    expect((await celeriac(project.dir, ['purge', '-f', ...broker])).stdout).toMatch(/^No messages purged/);
  });
});
