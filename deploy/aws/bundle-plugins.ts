/**
 * esbuild plugins for the Lambda bundle.
 *
 * - `oneCeleriac`: the user's module imports 'celeriac' (the installed package) while the
 *   handler entry imports this installation's files; both must be one copy, or the app the
 *   user built and the executor running it would come from two different builds. 'celeriac'
 *   and its subpaths resolve through package.json "exports" to this installation.
 * - `awsProvidersOnly`: core/registry.ts loads providers by URL scheme with lazy imports;
 *   esbuild would bundle every one of them (and better-sqlite3, ioredis...), and inline sqs and
 *   dynamodb as lazily initialised modules it cannot tree-shake (the whole SDK clients). Each
 *   resolves to a module that throws a clear error if ever loaded; the handler registers sqs
 *   and dynamodb from static imports instead. So do the other lazy imports a Lambda never
 *   reaches (LAZY_STUBS: the module loader, which needs esbuild at run time, the worker...).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { Plugin } from 'esbuild';

/** Providers the AWS bundle keeps. */
export const AWS_PROVIDERS = ['sqs', 'dynamodb'];
/** Packages that must never reach the bundle (checked against the metafile after the build). */
export const FORBIDDEN_PACKAGES = ['better-sqlite3', 'ioredis', 'esbuild', 'commander'];

const STUB = 'celeriac-not-bundled';

/**
 * `packageDir` holds celeriac's package.json; `fromSources` when this build runs from the .ts
 * sources (tests), where './dist/core/index.js' stands for './core/index.ts'.
 */
export function oneCeleriac(packageDir: string, fromSources: boolean): Plugin {
  const pkg = JSON.parse(readFileSync(path.join(packageDir, 'package.json'), 'utf8')) as {
    exports: Record<string, { default?: string } | string>;
  };
  return {
    name: 'celeriac-one-copy',
    setup(build) {
      build.onResolve({ filter: /^celeriac(\/.*)?$/ }, (args) => {
        const target = pkg.exports[`.${args.path.slice('celeriac'.length)}`];
        const file = typeof target === 'string' ? target : target?.default;
        if (!file) return { errors: [{ text: `'${args.path}' is not exported by celeriac (package.json "exports")` }] };
        return { path: path.join(packageDir, fromSources ? file.replace(/^\.\/dist\//, './').replace(/\.js$/, '.ts') : file) };
      });
    },
  };
}

export function awsProvidersOnly(): Plugin {
  return {
    name: 'celeriac-aws-providers-only',
    setup(build) {
      build.onResolve({ filter: /^\.\.\/providers\/[^/]+\/index\.js$/ }, (args) => {
        if (!/[\\/]core[\\/]registry\.[jt]s$/.test(args.importer)) return undefined;
        // One stub for all: core's registry names the scheme when it reports the stub's error.
        const scheme = /providers\/([^/]+)\//.exec(args.path)?.[1] as string;
        return { path: AWS_PROVIDERS.includes(scheme) ? REGISTERED : NOT_BUNDLED, namespace: STUB };
      });
      build.onResolve({ filter: /^\.\/[\w/-]+\.js$/ }, (args) => {
        if (args.kind !== 'dynamic-import') return undefined;
        const stub = LAZY_STUBS.find((l) => l.path === args.path && l.importer.test(args.importer));
        return stub ? { path: stub.path, namespace: STUB } : undefined;
      });
      build.onLoad({ filter: /.*/, namespace: STUB }, (args) => ({
        contents: `throw new Error(${JSON.stringify(stubMessage(args.path))});`,
        loader: 'js',
      }));
    },
  };
}

/**
 * Modules that core and the providers import lazily (`await import()`) for what a Lambda never
 * does; in a one-file bundle each would be inlined with all it imports. Each is replaced by a
 * module that throws this message if it is ever reached.
 */
const LAZY_STUBS: { path: string; importer: RegExp; message: string }[] = [
  {
    path: './module-loader.js',
    importer: /[\\/]core[\\/]app\.[jt]s$/,
    message:
      "app.configFromObject('<module>') cannot load modules in the Lambda bundle: import the config module and pass its object (app.configFromObject(config)).",
  },
  {
    path: './worker/worker.js',
    importer: /[\\/]core[\\/]app\.[jt]s$/,
    message: 'app.worker() is not in the Lambda bundle: the Lambda handler runs the tasks of its SQS events.',
  },
  {
    // task-sent events go only to a transport with an event channel, which sqs:// has not.
    path: './events.js',
    importer: /[\\/]core[\\/]app\.[jt]s$/,
    message: 'Celery events are not in the Lambda bundle: sqs:// has no event channel.',
  },
  {
    path: './receive.js',
    importer: /[\\/]providers[\\/]sqs[\\/]broker\.[jt]s$/,
    message: 'The sqs:// consumer is not in the Lambda bundle: Lambda receives the messages and hands them to the handler.',
  },
  {
    path: './create-queue.js',
    importer: /[\\/]providers[\\/]sqs[\\/]queues\.[jt]s$/,
    message:
      'create=true is not supported in the Lambda bundle: the queues come from the stack (template.json). Remove create from the sqs:// URL.',
  },
  {
    path: './create-table.js',
    importer: /[\\/]providers[\\/]dynamodb[\\/]store\.[jt]s$/,
    message:
      'create=true is not supported in the Lambda bundle: the results table comes from the stack (template.json). Remove create from the dynamodb:// URL.',
  },
];

const REGISTERED = 'registered-provider';
const NOT_BUNDLED = 'other-provider';

function stubMessage(what: string): string {
  const lazy = LAZY_STUBS.find((l) => l.path === what);
  if (lazy) return lazy.message;
  if (what === REGISTERED) return 'it is registered by the Lambda handler (deploy/aws/handler.ts), not loaded.';
  return `it is not in the AWS Lambda bundle, which carries only ${AWS_PROVIDERS.map((s) => `${s}://`).join(' and ')}: set broker_url to sqs://... and result_backend to dynamodb://TABLE.`;
}
