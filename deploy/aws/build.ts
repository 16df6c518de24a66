/**
 * `celeriac build --target aws`: the app's tasks module and the Lambda handler bundled by
 * esbuild into one ESM file (minified, with a source map, Node 22), next to the CloudFormation
 * template that deploys it. The app is loaded first, as the worker loads it, so its settings,
 * tasks and routes give the queues, and the guardrails run before anything is written.
 *
 *   OUTDIR/template.json          queues + DLQs, results table, function, event sources, IAM
 *   OUTDIR/handler/index.mjs      export const handler (and app)
 *   OUTDIR/handler/index.mjs.map
 */
import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Metafile } from 'esbuild';
import type { App } from '../../core/app.js';
import { type AppOptions, loadApp, splitSpecifier } from '../../core/cli/load-app.js';
import { ConfigError } from '../../core/errors.js';
import { loadModule, resolveModule } from '../../core/module-loader.js';
import { AWS_PROVIDERS, FORBIDDEN_PACKAGES, awsProvidersOnly, oneCeleriac } from './bundle-plugins.js';
import { checkGuardrails } from './guardrails.js';
import { AWS_FUNCTION_DEFAULTS, type AwsFunctionOptions } from './options.js';
import { type AwsPlan, planFor } from './plan.js';
import { HANDLER_DIR, HANDLER_FILE, cloudFormationTemplate } from './template.js';

export interface AwsBuildOptions extends AppOptions, Partial<AwsFunctionOptions> {
  /** -A: the module exporting the app (`tasks`, `./src/tasks.ts`, `tasks:myApp`). */
  app: string;
  /** Default dist/aws. */
  outdir?: string;
  /** Queues to deploy besides those the app's routes name (a router function can route anywhere). */
  queues?: string[];
  cwd?: string;
}

export interface AwsBuildResult {
  outdir: string;
  template: string;
  handler: string;
  plan: AwsPlan;
  warnings: string[];
  /** Bundle size in bytes. */
  bytes: number;
}

const here = fileURLToPath(import.meta.url);
/** Built: dist/deploy/aws/build.js; from the sources: deploy/aws/build.ts. */
const fromSources = here.endsWith('.ts');
const packageDir = path.resolve(path.dirname(here), fromSources ? '../..' : '../../..');
const handlerModule = path.join(path.dirname(here), `handler${path.extname(here)}`);

export async function buildAws(options: AwsBuildOptions): Promise<AwsBuildResult> {
  const cwd = options.cwd ?? process.cwd();
  const app = await loadApp(options, cwd);
  const { module } = splitSpecifier(options.app);
  const file = resolveModule(module, cwd);
  const exportName = await exportNameOf(app, module, cwd);
  const fn: AwsFunctionOptions = { ...AWS_FUNCTION_DEFAULTS, ...definedOnly(options) };
  const plan = planFor(app, fn, options.queues);
  const warnings = checkGuardrails(plan);

  const outdir = path.resolve(cwd, options.outdir ?? 'dist/aws');
  const handlerDir = path.join(outdir, HANDLER_DIR);
  await rm(handlerDir, { recursive: true, force: true });
  await mkdir(handlerDir, { recursive: true });
  const handler = path.join(handlerDir, HANDLER_FILE);
  const metafile = await bundle(file, exportName, handler, cwd);
  checkBundle(metafile);
  const template = path.join(outdir, 'template.json');
  await writeFile(template, `${JSON.stringify(cloudFormationTemplate(plan), null, 2)}\n`);
  const bytes = metafile.outputs[path.relative(cwd, handler).split(path.sep).join('/')]?.bytes ?? 0;
  return { outdir, template, handler, plan, warnings, bytes };
}

/** The export holding the app (the module is cached by content, so this is the same instance loadApp found). */
async function exportNameOf(app: App, module: string, cwd: string): Promise<string> {
  const exports = await loadModule(module, { cwd });
  const name = Object.keys(exports).find((key) => exports[key] === app);
  if (!name) throw new ConfigError(`The app of '${module}' must be exported by the module itself to be bundled into a handler.`);
  return name;
}

async function bundle(file: string, exportName: string, outfile: string, cwd: string): Promise<Metafile> {
  const esbuild = await import('esbuild');
  const entry = [
    `import { ${exportName} as app } from ${JSON.stringify(file)};`,
    `import { lambdaHandler } from ${JSON.stringify(handlerModule)};`,
    'export { app };',
    'export const handler = lambdaHandler(app);',
  ].join('\n');
  const result = await esbuild.build({
    stdin: { contents: entry, resolveDir: cwd, sourcefile: 'celeriac-lambda-entry.js', loader: 'js' },
    outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node22',
    minify: true,
    sourcemap: true,
    // Task names come from function names ('tasks.add'): minifying must not rename them.
    keepNames: true,
    // The SDK's ES module builds tree-shake better than its CommonJS ones.
    mainFields: ['module', 'main'],
    // Bundled CommonJS dependencies may call require() for Node's built-ins; ESM has none.
    banner: { js: "import { createRequire as __celeriacRequire } from 'node:module'; const require = __celeriacRequire(import.meta.url);" },
    plugins: [oneCeleriac(packageDir, fromSources), awsProvidersOnly()],
    metafile: true,
    logLevel: 'silent',
    absWorkingDir: cwd,
  });
  return result.metafile;
}

/** A guard on the plugins: the AWS bundle carries no other provider and none of their packages. */
function checkBundle(metafile: Metafile): void {
  const inputs = Object.keys(metafile.inputs);
  const leaked = inputs.filter(
    (input) =>
      FORBIDDEN_PACKAGES.some((pkg) => input.includes(`node_modules/${pkg}/`)) ||
      (/(^|\/)providers\/([^/]+)\//.test(input) &&
        !AWS_PROVIDERS.includes(/providers\/([^/]+)\//.exec(input)?.[1] ?? '') &&
        !input.includes('node_modules/')),
  );
  if (leaked.length > 0) throw new Error(`The Lambda bundle must not contain: ${leaked.join(', ')}`);
}

function definedOnly(options: Partial<AwsFunctionOptions>): Partial<AwsFunctionOptions> {
  const picked: Partial<AwsFunctionOptions> = {};
  for (const key of Object.keys(AWS_FUNCTION_DEFAULTS) as (keyof AwsFunctionOptions)[]) {
    if (options[key] !== undefined) Object.assign(picked, { [key]: options[key] });
  }
  return picked;
}
