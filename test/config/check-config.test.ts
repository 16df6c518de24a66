import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkConfig } from '../../core/config/check-config.js';
import { ConfigError } from '../../core/errors.js';

let dir: string;

beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'celeriac-check-'));
  symlinkSync(fileURLToPath(new URL('../../node_modules', import.meta.url)), path.join(dir, 'node_modules'), 'dir');
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('checkConfig (celeriac check-config MODULE)', () => {
  it('loads a .ts config module and prints its settings, with passwords hidden', async () => {
    writeFileSync(
      path.join(dir, 'celeriacconfig.ts'),
      [
        "export const broker_url = 'redis://:s3cret@localhost:6379/0';",
        "export const task_routes = { 'tasks.add': 'math', 'tasks.*': { queue: 'default' } };",
        "export const task_annotations = { '*': { rate_limit: '10/s' } };",
        'export const CELERY_ENABLE_UTC = false;',
      ].join('\n'),
    );
    const summary = await checkConfig('celeriacconfig', { cwd: dir, env: {} });
    expect(summary).toContain('celeriacconfig: OK (4 settings)');
    expect(summary).toContain('redis://:**@localhost:6379/0');
    expect(summary).not.toContain('s3cret');
    expect(summary).toContain('{"tasks.add":"math","tasks.*":{"queue":"default"}}');
    expect(summary).toMatch(/result_backend\s+disabled/);
    expect(summary).toContain('Warnings:');
    expect(summary).toContain('Celery 5.2 silently ignores CELERY_ENABLE_UTC');
  });

  it('hides the secrets of nested settings and of every URL it prints (broker_transport_options)', async () => {
    writeFileSync(
      path.join(dir, 'nested.mjs'),
      [
        "export const broker_url = 'sqs://?region=us-east-1';",
        "export const broker_transport_options = { claim_check: 'redis://:s3cretCC@h/0', sentinel_kwargs: { password: 's3cretS' } };",
      ].join('\n'),
    );
    const summary = await checkConfig('nested.mjs', { cwd: dir, env: {} });
    expect(summary).toContain('{"claim_check":"redis://:**@h/0","sentinel_kwargs":{"password":"********"}}');
    expect(summary).not.toContain('s3cret');
  });

  it('shows where the broker and backend in effect come from', async () => {
    writeFileSync(path.join(dir, 'empty.json'), '{}');
    const summary = await checkConfig('empty.json', { cwd: dir, env: { CELERIAC_BROKER_URL: 'memory://' } });
    expect(summary).toContain('empty.json: OK (0 settings)');
    expect(summary).toMatch(/broker_url\s+memory:\/\/ \(env\)/);
  });

  it('throws a ConfigError naming the closest key for a misspelled setting', async () => {
    writeFileSync(path.join(dir, 'typo.mjs'), "export const task_acks_lat = true;\nexport const broker_url = 'memory://';\n");
    const error = await checkConfig('typo.mjs', { cwd: dir, env: {} }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toContain("'task_acks_lat' is not a setting. Did you mean 'task_acks_late'?");
  });
});
