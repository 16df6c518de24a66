/**
 * What both AWS benches measure: a one-task app built with the real `celeriac build --target
 * aws` (dist/core/cli/bin.js) in a temp project where `import 'celeriac'` resolves to this repo.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

const TASKS = `
import { createApp } from 'celeriac';
export const app = createApp('bench', {
  broker: 'sqs://?region=us-east-1&prefix=b-&visibility_timeout=360',
  backend: 'dynamodb://bench-results?region=us-east-1',
});
export const noop = app.task('bench.noop', (i: number) => i, { timeLimit: 5 });
`;

export interface BuiltBench {
  dir: string;
  handler: string;
  template: Record<string, unknown>;
  cleanup(): void;
}

export function buildBenchHandler(): BuiltBench {
  const dir = mkdtempSync(join(tmpdir(), 'celeriac-aws-bench-'));
  writeFileSync(join(dir, 'tasks.ts'), TASKS);
  mkdirSync(join(dir, 'node_modules'));
  symlinkSync(ROOT, join(dir, 'node_modules/celeriac'), 'dir');
  execFileSync(process.execPath, [join(ROOT, 'dist/core/cli/bin.js'), 'build', '--target', 'aws', '-A', 'tasks', '--outdir', 'out'], {
    cwd: dir,
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  return {
    dir,
    handler: join(dir, 'out/handler/index.mjs'),
    template: JSON.parse(readFileSync(join(dir, 'out/template.json'), 'utf8')) as Record<string, unknown>,
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}
