/**
 * esbuild plugins for the Lambda bundle.
 *
 * - `oneCeleriac`: the user's module imports 'celeriac' (the installed package) while the
 *   handler entry imports this installation's files; both must be one copy, or the app the
 *   user built and the executor running it would come from two different builds. 'celeriac'
 *   and its subpaths resolve through package.json "exports" to this installation.
 * - `awsProvidersOnly`: core/registry.ts loads providers by URL scheme with lazy imports;
 *   esbuild would bundle every one of them (and better-sqlite3, ioredis...). Those other than
 *   sqs and dynamodb resolve to a module that throws a clear error if ever loaded, and so does
 *   the module loader (it needs esbuild at run time, which a Lambda does not have).
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
        const scheme = /providers\/([^/]+)\//.exec(args.path)?.[1] as string;
        if (AWS_PROVIDERS.includes(scheme)) return undefined;
        return { path: `provider:${scheme}`, namespace: STUB };
      });
      build.onResolve({ filter: /^\.\/module-loader\.js$/ }, (args) =>
        /[\\/]core[\\/]app\.[jt]s$/.test(args.importer) ? { path: 'module-loader', namespace: STUB } : undefined,
      );
      build.onLoad({ filter: /.*/, namespace: STUB }, (args) => ({
        contents: `throw new Error(${JSON.stringify(stubMessage(args.path))});`,
        loader: 'js',
      }));
    },
  };
}

function stubMessage(what: string): string {
  if (what === 'module-loader') {
    return "app.configFromObject('<module>') cannot load modules in the Lambda bundle: import the config module and pass its object (app.configFromObject(config)).";
  }
  const scheme = what.slice('provider:'.length);
  return `The ${scheme}:// provider is not in the AWS Lambda bundle, which carries only ${AWS_PROVIDERS.map((s) => `${s}://`).join(' and ')}: set broker_url to sqs://... and result_backend to dynamodb://TABLE.`;
}
