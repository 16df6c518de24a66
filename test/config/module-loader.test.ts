import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../core/errors.js';
import { loadModule, resolveModule } from '../../core/module-loader.js';

const repoNodeModules = fileURLToPath(new URL('../../node_modules', import.meta.url));
let dir: string;

/** Writes files under the project folder, creating subfolders. */
function write(files: Record<string, string>): void {
  for (const [name, text] of Object.entries(files)) {
    const file = path.join(dir, name);
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, text);
  }
}

async function loadError(specifier: string): Promise<ConfigError> {
  try {
    await loadModule(specifier, { cwd: dir });
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

beforeAll(() => {
  // A project folder outside the repo whose node_modules is the repo's: bare imports must
  // resolve from the module's own tree, not from celeriac's.
  dir = mkdtempSync(path.join(tmpdir(), 'celeriac-loader-'));
  symlinkSync(repoNodeModules, path.join(dir, 'node_modules'), 'dir');
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('loadModule', () => {
  it('bundles a .ts module that imports a package (commander) and relative .ts files', async () => {
    write({
      'app/tasks.ts': [
        "import { Command } from 'commander';",
        "import { double } from './lib/math.ts';",
        "import { greet } from './lib/greet.js';   // TypeScript's .js convention for greet.ts",
        "const program = new Command().option('-n, --number <n>', 'a number', Number);",
        "export const parsed: number = program.parse(['node', 'tasks', '-n', '21']).opts().number;",
        'export const answer = double(parsed);',
        "export const hello = greet('world');",
        'export const packageWorks = program.opts().number === 21;',
      ].join('\n'),
      'app/lib/math.ts': 'export const double = (n: number): number => n * 2;\n',
      'app/lib/greet.ts': "export function greet(who: string): string { return 'hello ' + who; }\n",
    });
    const mod = await loadModule('app/tasks.ts', { cwd: dir });
    expect(mod.answer).toBe(42);
    expect(mod.hello).toBe('hello world');
    expect(mod.packageWorks).toBe(true);
    const cache = path.join(dir, 'app', '.celeriac-cache');
    expect(readdirSync(cache).filter((f) => f.endsWith('.mjs'))).toHaveLength(1);
    expect(existsSync(path.join(cache, '.gitignore'))).toBe(true);
  });

  it("resolves a bare name like 'celeriacconfig' to ./celeriacconfig.ts", async () => {
    write({ 'celeriacconfig.ts': "export const broker_url: string = 'memory://';\n" });
    expect(resolveModule('celeriacconfig', dir)).toBe(path.join(dir, 'celeriacconfig.ts'));
    expect((await loadModule('celeriacconfig', { cwd: dir })).broker_url).toBe('memory://');
    expect((await loadModule('./celeriacconfig', { cwd: dir })).broker_url).toBe('memory://');
  });

  it('resolves a folder to its index, and a dotted name (proj.tasks) to proj/tasks', async () => {
    write({ 'pkgdir/index.ts': 'export const where = "index";\n', 'proj/worker.mjs': 'export const where = "dotted";\n' });
    expect((await loadModule('pkgdir', { cwd: dir })).where).toBe('index');
    expect((await loadModule('proj.worker', { cwd: dir })).where).toBe('dotted');
  });

  it('imports .js/.mjs/.cjs as they are and reads .json as a default export', async () => {
    write({
      'plain.mjs': 'export const kind = "esm";\n',
      'common.cjs': 'module.exports = { kind: "cjs" };\n',
      'settings.json': '{ "task_default_queue": "q" }\n',
    });
    expect((await loadModule('plain.mjs', { cwd: dir })).kind).toBe('esm');
    expect(((await loadModule('common', { cwd: dir })).default as { kind: string }).kind).toBe('cjs');
    expect(await loadModule('settings.json', { cwd: dir })).toEqual({ default: { task_default_queue: 'q' } });
  });

  it('loads an installed package by name', async () => {
    const mod = await loadModule('commander', { cwd: dir });
    expect(typeof mod.Command).toBe('function');
  });

  it('gives a bundled module its own import.meta.url, not the cache file', async () => {
    write({ 'meta/where.ts': 'export const url = import.meta.url;\nexport const dirname = import.meta.dirname;\n' });
    const mod = await loadModule('meta/where.ts', { cwd: dir });
    expect(mod.url).toBe(pathToFileURL(path.join(dir, 'meta', 'where.ts')).href);
    expect(mod.dirname).toBe(path.join(dir, 'meta'));
  });

  // It was replaced as text, also inside strings: `"... import.meta.url"` became a syntax error.
  it('replaces only real import.meta expressions, each file with its own, and leaves the text in strings and comments', async () => {
    write({
      'meta2/main.ts': [
        "import { inner } from './sub/inner.ts';",
        "import legacy from './legacy.cjs';",
        '// import.meta.url is this file',
        'export const text = "import.meta.url";',
        'export const url = import.meta.url;',
        'export { inner, legacy };',
        '',
      ].join('\n'),
      'meta2/sub/inner.ts': 'export const inner = { url: import.meta.url, text: `import.meta.url is ${import.meta.url}` };\n',
      'meta2/legacy.cjs': "module.exports = { text: 'import.meta.url' };\n",
    });
    const mod = await loadModule('meta2/main.ts', { cwd: dir });
    const innerUrl = pathToFileURL(path.join(dir, 'meta2', 'sub', 'inner.ts')).href;
    expect(mod).toMatchObject({
      text: 'import.meta.url',
      url: pathToFileURL(path.join(dir, 'meta2', 'main.ts')).href,
      inner: { url: innerUrl, text: `import.meta.url is ${innerUrl}` },
      legacy: { text: 'import.meta.url' },
    });
  });

  it('picks up an edited .ts module on the next load', async () => {
    write({ 'edit/mod.ts': 'export const version = 1;\n' });
    expect((await loadModule('edit/mod', { cwd: dir })).version).toBe(1);
    write({ 'edit/mod.ts': 'export const version = 2;\n' });
    expect((await loadModule('edit/mod', { cwd: dir })).version).toBe(2);
  });

  it('lists every path it tried when nothing is found', async () => {
    const err = await loadError('nothere');
    expect(err.message).toContain("Cannot find module 'nothere'");
    expect(err.message).toContain(path.join(dir, 'nothere.ts'));
    expect(err.message).toContain(path.join(dir, 'nothere.js'));
    expect(err.message).toContain(path.join(dir, 'nothere', 'index.ts'));
    expect(err.message).toContain("package 'nothere'");
  });

  it('reports a syntax error in a .ts module as file:line:column', async () => {
    write({ 'broken/bad.ts': 'export const a = 1;\nexport const b = ;\n' });
    const err = await loadError('broken/bad.ts');
    expect(err.message).toMatch(/bad\.ts:2:\d+: /);
    expect(err.message).toContain('export const b = ;');
  });

  it('reports a syntax error in a relative import of a .ts module at the imported file', async () => {
    write({ 'broken2/main.ts': "export { x } from './dep.ts';\n", 'broken2/dep.ts': 'export const x = {;\n' });
    expect((await loadError('broken2/main.ts')).message).toMatch(/dep\.ts:1:\d+: /);
  });

  it('reports an unresolvable relative import with the importing line', async () => {
    write({ 'broken3/main.ts': "export const ok = 1;\nimport { y } from './missing';\nexport { y };\n" });
    expect((await loadError('broken3/main.ts')).message).toMatch(/main\.ts:2:\d+: Could not resolve/);
  });

  it('reports a syntax error in a .mjs module as file:line:column', async () => {
    write({ 'broken4/bad.mjs': 'export const a = 1;\n\nexport const b = );\n' });
    expect((await loadError('broken4/bad.mjs')).message).toMatch(/bad\.mjs:3:\d+: /);
  });

  it('reports a JSON syntax error with its line', async () => {
    write({ 'broken5/bad.json': '{\n  "a": 1,\n  "b": }\n' });
    expect((await loadError('broken5/bad.json')).message).toMatch(/bad\.json:3:\d+: /);
  });

  it('lets an error thrown while the module runs through unchanged', async () => {
    write({ 'throws/mod.ts': "throw new RangeError('boom at import');\n" });
    await expect(loadModule('throws/mod.ts', { cwd: dir })).rejects.toThrow(RangeError);
  });
});
