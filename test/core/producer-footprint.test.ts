import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));

/** Every file `entry` loads eagerly: the closure over static imports only (dynamic imports load on demand). */
async function eagerModules(entry: string): Promise<string[]> {
  const { metafile } = await esbuild.build({
    entryPoints: [entry],
    absWorkingDir: root,
    bundle: true,
    write: false,
    metafile: true,
    platform: 'node',
    format: 'esm',
    splitting: true,
    outdir: 'out',
    packages: 'external',
    logLevel: 'silent',
  });
  const seen = new Set<string>();
  const visit = (path: string): void => {
    if (seen.has(path)) return;
    seen.add(path);
    for (const imp of metafile.inputs[path]?.imports ?? []) {
      if (imp.kind === 'import-statement') visit(imp.path);
    }
  };
  visit(entry);
  return [...seen];
}

describe('a producer importing celeriac', () => {
  it('loads no worker code, no provider and no bundler until it needs them', async () => {
    const loaded = await eagerModules('core/index.ts');
    expect(loaded).toContain('core/app.ts');
    const heavy = loaded.filter((p) =>
      /core\/(worker|executor|cli)\b|core\/module-loader|providers\/|^esbuild$|better-sqlite3|ioredis|@aws-sdk/.test(p),
    );
    expect(heavy).toEqual([]);
  });

  it('the worker entry point does load the executor', async () => {
    const loaded = await eagerModules('core/worker/index.ts');
    expect(loaded).toContain('core/executor.ts');
  });
});
