/**
 * Loads a user's module — the tasks module named by `-A`, or a config module for
 * app.configFromObject — the way Celery imports `proj.tasks` / `celeryconfig`, with TypeScript
 * handled by esbuild so no separate build step or loader flag is needed.
 */
import { createHash } from 'node:crypto';
import { existsSync, statSync } from 'node:fs';
import { mkdir, readdir, readFile, rename, stat, unlink, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Message, Plugin } from 'esbuild';
import { ConfigError } from './errors.js';

export interface LoadModuleOptions {
  /** Where relative and bare names are looked up. Default process.cwd(). */
  cwd?: string;
}

const EXTENSIONS = ['.ts', '.mts', '.cts', '.js', '.mjs', '.cjs', '.json'];
const BUNDLED = new Set(['.ts', '.mts', '.cts']);
/** TypeScript's convention: an import of './x.js' means the source './x.ts'. */
const SOURCE_OF: Readonly<Record<string, string>> = { '.js': '.ts', '.mjs': '.mts', '.cjs': '.cts' };
const CACHE_DIR = '.celeriac-cache';
/** A superseded bundle older than this is removed; younger ones may still be loading elsewhere. */
const STALE_MS = 60_000;

const isFile = (p: string) => existsSync(p) && statSync(p).isFile();

function fileCandidates(base: string): string[] {
  const ext = path.extname(base);
  if (EXTENSIONS.includes(ext)) {
    const source = SOURCE_OF[ext];
    return source === undefined ? [base] : [base, base.slice(0, -ext.length) + source];
  }
  return [...EXTENSIONS.map((e) => base + e), ...EXTENSIONS.filter((e) => e !== '.json').map((e) => path.join(base, `index${e}`))];
}

/**
 * The file a specifier names: 'tasks' → ./tasks.ts, ./tasks.js, ... ./tasks/index.ts, ...;
 * 'proj.tasks' (Celery's dotted form) → ./proj/tasks.ts, ...; then an installed package.
 * Throws ConfigError listing everything tried.
 */
export function resolveModule(specifier: string, cwd: string = process.cwd()): string {
  const tried: string[] = [];
  const base = path.resolve(cwd, specifier);
  const bases = [base];
  const relative = /^\.{1,2}([\\/]|$)/.test(specifier) || path.isAbsolute(specifier);
  if (!relative && !/[\\/]/.test(specifier) && specifier.includes('.') && !EXTENSIONS.includes(path.extname(specifier))) {
    bases.push(path.resolve(cwd, ...specifier.split('.')));
  }
  for (const b of bases) {
    for (const candidate of fileCandidates(b)) {
      if (isFile(candidate)) return candidate;
      tried.push(candidate);
    }
  }
  if (!relative) {
    try {
      return createRequire(path.join(cwd, '__celeriac_resolve__.js')).resolve(specifier);
    } catch {
      tried.push(`package '${specifier}' in node_modules from ${cwd} upwards`);
    }
  }
  throw new ConfigError(`Cannot find module '${specifier}' (from ${cwd}). Tried:\n  ${tried.join('\n  ')}`);
}

/** A path as short as it can be shown: relative to the current folder when inside it. */
function shown(file: string): string {
  const relative = path.relative(process.cwd(), file);
  return relative === '' || relative.startsWith('..') || path.isAbsolute(relative) ? file : relative;
}

function describeEsbuildError(file: string, messages: readonly Message[]): string {
  const first = messages[0];
  if (first === undefined) return `Cannot load ${shown(file)}`;
  const loc = first.location;
  if (loc === null) return `Cannot load ${shown(file)}: ${first.text}`;
  // esbuild reports paths relative to its working directory, process.cwd().
  const at = `${shown(path.resolve(loc.file))}:${loc.line}:${loc.column + 1}`;
  return `Cannot load ${shown(file)}: ${at}: ${first.text}\n    ${loc.lineText}`;
}

const META_NAMESPACE = 'celeriac-import-meta';
/** What a file's import.meta.url, .filename and .dirname become: the namespace import the plugin adds to that file. */
const META = '__celeriacImportMeta';
const metaDefine = {
  'import.meta.url': `${META}.url`,
  'import.meta.filename': `${META}.filename`,
  'import.meta.dirname': `${META}.dirname`,
};

/**
 * Gives each bundled file its own import.meta.url, not the cache file's, so `new URL('./x', import.meta.url)`
 * works. esbuild's define replaces only real expressions (not text in a string or comment) but is
 * one for the whole bundle: it names an import that this plugin adds, at the end of each file that
 * uses import.meta (its lines and columns unchanged), of a module holding that file's values.
 */
const ownImportMeta: Plugin = {
  name: 'celeriac-import-meta',
  setup(build) {
    build.onLoad({ filter: /\.[cm]?[jt]sx?$/, namespace: 'file' }, async (args) => {
      const source = await readFile(args.path, 'utf8');
      if (!source.includes('import.meta')) return undefined;
      const ext = path.extname(args.path);
      const loader = ext.endsWith('tsx') ? 'tsx' : ext.endsWith('jsx') ? 'jsx' : ext.includes('t') ? 'ts' : 'js';
      // Only a file that really uses it gets the import, which would make a CommonJS file an ES module.
      const esbuild = await import('esbuild');
      const uses = await esbuild.transform(source, { loader, define: metaDefine }).then(
        (result) => result.code.includes(META),
        // Not parsed here: the build reports the error, at its place (the import goes after the last line).
        () => true,
      );
      if (!uses) return undefined;
      return { contents: `${source}\n;import * as ${META} from ${JSON.stringify(`${META_NAMESPACE}:${args.path}`)};\n`, loader };
    });
    build.onResolve({ filter: new RegExp(`^${META_NAMESPACE}:`) }, (args) => ({
      path: args.path.slice(META_NAMESPACE.length + 1),
      namespace: META_NAMESPACE,
    }));
    build.onLoad({ filter: /.*/, namespace: META_NAMESPACE }, (args) => ({
      contents: `export const url = ${JSON.stringify(pathToFileURL(args.path).href)}, filename = ${JSON.stringify(args.path)}, dirname = ${JSON.stringify(path.dirname(args.path))};`,
      loader: 'js',
    }));
  },
};

/**
 * Bundles a TypeScript module with its relative imports into one .mjs file inside the
 * module's own folder (`.celeriac-cache/`), with packages left as imports: written there, the
 * bundle resolves 'celeriac', 'zod', ... from the project's node_modules like the source would.
 * The file is named by content hash, so an edited module gets a new URL (Node caches by URL).
 */
async function bundle(file: string): Promise<string> {
  const esbuild = await import('esbuild');
  const cacheDir = path.join(path.dirname(file), CACHE_DIR);
  const name = path.basename(file);
  let text: string;
  try {
    const result = await esbuild.build({
      entryPoints: [file],
      outfile: path.join(cacheDir, `${name}.mjs`),
      bundle: true,
      packages: 'external',
      platform: 'node',
      format: 'esm',
      target: 'node20',
      write: false,
      sourcemap: 'inline',
      // Task names come from function names ('tasks.add'): bundling must not rename them.
      keepNames: true,
      logLevel: 'silent',
      plugins: [ownImportMeta],
      define: metaDefine,
      // ESM has no `require`; TypeScript's `import x = require('y')` compiles to one.
      banner: {
        js: "import { createRequire as __celeriacCreateRequire } from 'node:module'; const require = __celeriacCreateRequire(import.meta.url);",
      },
    });
    text = result.outputFiles[0]?.text ?? '';
  } catch (err) {
    const messages = (err as { errors?: Message[] }).errors;
    if (messages === undefined) throw err;
    throw new ConfigError(describeEsbuildError(file, messages), { cause: err });
  }
  const hash = createHash('sha256').update(text).digest('hex').slice(0, 12);
  const out = path.join(cacheDir, `${name}.${hash}.mjs`);
  if (!existsSync(out)) {
    await mkdir(cacheDir, { recursive: true });
    await writeFile(path.join(cacheDir, '.gitignore'), '*\n');
    // Write then rename: several processes (a worker, a producer) may load the same module at once.
    const tmp = `${out}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
    await writeFile(tmp, text);
    await rename(tmp, out);
  }
  await removeStale(cacheDir, name, out);
  // Stack traces (and so task tracebacks) then point at the .ts source lines.
  process.setSourceMapsEnabled(true);
  return out;
}

async function removeStale(cacheDir: string, name: string, keep: string): Promise<void> {
  const pattern = new RegExp(`^${name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\.[0-9a-f]{12}\\.mjs$`);
  for (const entry of await readdir(cacheDir)) {
    const file = path.join(cacheDir, entry);
    if (file === keep || !pattern.test(entry)) continue;
    try {
      if (Date.now() - (await stat(file)).mtimeMs > STALE_MS) await unlink(file);
    } catch {
      // Another process removed it first.
    }
  }
}

/**
 * Where a .js/.mjs/.cjs/.json file's syntax error is, as "file:line:column: what", or undefined
 * when esbuild finds none. Node's own message omits the line, and JSON.parse gives at most an offset.
 */
async function locateSyntaxError(file: string): Promise<string | undefined> {
  const esbuild = await import('esbuild');
  const ext = path.extname(file);
  try {
    await esbuild.transform(await readFile(file, 'utf8'), {
      loader: ext === '.json' ? 'json' : 'js',
      sourcefile: file,
      format: ext === '.cjs' ? 'cjs' : undefined,
    });
    return undefined;
  } catch (err) {
    const messages = (err as { errors?: Message[] }).errors;
    return messages === undefined ? undefined : describeEsbuildError(file, messages);
  }
}

async function readJson(file: string): Promise<Record<string, unknown>> {
  const text = await readFile(file, 'utf8');
  try {
    return { default: JSON.parse(text) };
  } catch (err) {
    throw new ConfigError((await locateSyntaxError(file)) ?? `Cannot load ${shown(file)}: ${(err as Error).message}`, { cause: err });
  }
}

/**
 * Loads a module by name or path and returns its exports. TypeScript (.ts/.mts/.cts) is
 * bundled by esbuild first; .js/.mjs/.cjs are imported; .json is read (as `{ default: value }`,
 * like a JSON import). A syntax error is a ConfigError saying file:line:column.
 */
export async function loadModule(specifier: string, options: LoadModuleOptions = {}): Promise<Record<string, unknown>> {
  const file = resolveModule(specifier, options.cwd ?? process.cwd());
  const ext = path.extname(file);
  if (ext === '.json') return readJson(file);
  const target = BUNDLED.has(ext) ? await bundle(file) : file;
  try {
    return (await import(pathToFileURL(target).href)) as Record<string, unknown>;
  } catch (err) {
    // Any failure of a plain JS import may be a syntax error (Node: SyntaxError; other loaders
    // wrap it), so look for one; a module that parses but throws is passed on unchanged.
    if (!BUNDLED.has(ext)) {
      const located = await locateSyntaxError(file);
      if (located !== undefined) throw new ConfigError(located, { cause: err });
    }
    throw err;
  }
}
