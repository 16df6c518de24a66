/** app.close(): what still waits is told at once, what comes after is refused, and the process can exit. */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { AppClosedError } from '../../core/errors.js';
import { useChildScript } from '../support/child-script.js';
import { closeAppsAndWorkers, memoryApp } from './helpers.js';

afterEach(closeAppsAndWorkers);

describe('app.close()', () => {
  const child = useChildScript('test/fixtures/providers/close-pending-child.ts', 'close-pending-child.mjs');

  for (const [name, url] of [
    ['memory://', 'memory://closing'],
    ['local://', `local://${mkdtempSync(join(tmpdir(), 'celeriac-close-'))}`],
  ]) {
    it(`ends the get()s still waiting with AppClosedError, and the process exits (${name})`, async () => {
      const started = Date.now();
      const { wait, killed } = child(url as string);
      const closed = await wait('the app to close', (e) => e.event === 'closed');
      const message = `AppClosedError: The result backend was closed (app.close()) while waiting for the result of task ${closed.id}`;
      expect(closed.gets).toEqual([message, message]);
      await killed();
      expect(Date.now() - started).toBeLessThan(10_000);
    });
  }

  it('refuses to send or to wait after it, rather than opening a connection again', async () => {
    const app = memoryApp();
    const add = app.task('tasks.add', (x: number, y: number) => x + y);
    const sent = await add.delay(1, 2);
    await app.close();
    const refused = /^App 'tasks' was closed \(app.close\(\)\): it cannot send or consume any more; create a new app to go on\.$/;
    await expect(add.delay(1, 2)).rejects.toThrow(refused);
    await expect(add.delay(1, 2)).rejects.toBeInstanceOf(AppClosedError);
    await expect(sent.get({ timeout: 1000 })).rejects.toThrow(
      /^App 'tasks' was closed \(app.close\(\)\): it cannot read or store results any more/,
    );
  });
});
