/** `celeriac check-config MODULE` (issue 2, item 5): Celery's `python -m celeryconfig`. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { celeriac, ensureBuilt, makeProject } from './harness.js';

let project: ReturnType<typeof makeProject>;

beforeAll(async () => {
  await ensureBuilt();
  project = makeProject();
}, 240_000);
afterAll(() => project?.cleanup());

describe('celeriac check-config', () => {
  it('reports a valid module and the settings it sets', async () => {
    const out = await celeriac(project.dir, ['check-config', 'celeriacconfig']);
    expect(out.stderr).toBe('');
    expect(out.code).toBe(0);
    expect(out.stdout).toMatch(/^celeriacconfig: OK/);
    expect(out.stdout).toMatch(/result_expires\s+3600/);
  });

  it('names the closest valid key for a misspelled one, in one line, exit 1', async () => {
    const out = await celeriac(project.dir, ['check-config', './misspelled-config.ts']);
    expect(out.code).toBe(1);
    expect(out.stdout).toBe('');
    expect(out.stderr).toMatch(/^error: .*task_serialiser.*task_serializer/);
    expect(out.stderr.trim().split('\n')).toHaveLength(1);
  });

  it('refuses -A, -b and --result-backend, exit 2 (they were ignored without a word)', async () => {
    for (const args of [
      ['-A', 'tasks'],
      ['-b', 'redis://127.0.0.1:6379/1'],
      ['--result-backend', 'redis://127.0.0.1:6379/1'],
    ]) {
      const out = await celeriac(project.dir, [...args, 'check-config', 'celeriacconfig']);
      expect(out).toMatchObject({
        code: 2,
        stdout: '',
        stderr: 'check-config checks only the module it is given: -A, -b and --result-backend do not apply to it.\n',
      });
    }
  });

  it('says which module could not be found', async () => {
    const out = await celeriac(project.dir, ['check-config', 'nowhere']);
    expect(out.code).toBe(1);
    expect(out.stderr).toMatch(/^error: .*nowhere/);
    expect(out.stderr).not.toMatch(/\n\s+at /);
  });
});
