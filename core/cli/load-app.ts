/**
 * Resolves `-A MODULE[:NAME]` to an App (Celery's `-A proj` / `-A proj.celery:app` / `-A proj.app`), after applying
 * the --broker / --result-backend options every command takes.
 */
import { type App, createApp } from '../app.js';
import { ENV_OVERRIDES } from '../config/config.js';
import { ConfigError } from '../errors.js';
import { loadModule, resolveModule } from '../module-loader.js';

export interface AppOptions {
  app?: string;
  broker?: string;
  resultBackend?: string;
}

export async function loadApp(opts: AppOptions, cwd: string = process.cwd()): Promise<App> {
  // Through the environment overrides, as Celery's -b does: the flag then beats both the app's
  // own settings and an inherited CELERIAC_* variable, and is in place before the module loads.
  if (opts.broker) process.env[ENV_OVERRIDES.broker_url] = opts.broker;
  if (opts.resultBackend) process.env[ENV_OVERRIDES.result_backend] = opts.resultBackend;
  // Without -A a bare app still serves producers and remote control (call, inspect, status...).
  return opts.app ? await appFromModule(opts.app, cwd) : createApp('celeriac');
}

/** `tasks`, `./src/tasks.ts`, or `tasks:myApp` to pick one export by name. */
export function splitSpecifier(spec: string): { module: string; attr?: string } {
  const m = /^(.+?):([A-Za-z_$][\w$]*)$/.exec(spec);
  // A one-letter prefix is a Windows drive (C:\...), not a module.
  if (m?.[1] && m[2] && m[1].length > 1) return { module: m[1], attr: m[2] };
  return { module: spec };
}

async function appFromModule(spec: string, cwd: string): Promise<App> {
  const { module, attr } = dottedAttribute(splitSpecifier(spec), cwd);
  const exports = (await loadModule(module, { cwd })) as Record<string, unknown>;
  if (attr) {
    const picked = exports[attr];
    if (isApp(picked)) return picked;
    throw new ConfigError(`Module '${module}' has no celeriac app exported as '${attr}' (it exports: ${names(exports)}).`);
  }
  for (const key of ['app', 'default']) {
    const candidate = exports[key];
    if (isApp(candidate)) return candidate;
  }
  const apps = Object.entries(exports).filter(([, v]) => isApp(v));
  if (apps.length === 1 && apps[0]) return apps[0][1] as App;
  if (apps.length > 1) {
    throw new ConfigError(
      `Module '${module}' exports several apps (${apps.map(([k]) => k).join(', ')}): name one with -A ${module}:${apps[0]?.[0]}, or export it as 'app'.`,
    );
  }
  throw new ConfigError(
    `Module '${module}' exports no celeriac app (it exports: ${names(exports)}). Export it: export const app = createApp('${module.replace(/^.*[\\/]|\.[cm]?[jt]s$/g, '')}', { ... }).`,
  );
}

/**
 * Celery's `-A proj.app` form: when no module `proj.app` exists but `proj` does, the last segment
 * names the app exported by `proj`, as Celery's find_app reads it. Otherwise the first error stands.
 */
function dottedAttribute(spec: { module: string; attr?: string }, cwd: string): { module: string; attr?: string } {
  const dot = spec.module.lastIndexOf('.');
  if (spec.attr !== undefined || dot <= 0 || /[\\/]/.test(spec.module)) return spec;
  try {
    resolveModule(spec.module, cwd);
    return spec;
  } catch (err) {
    const [module, attr] = [spec.module.slice(0, dot), spec.module.slice(dot + 1)];
    if (!/^[A-Za-z_$][\w$]*$/.test(attr)) throw err;
    try {
      resolveModule(module, cwd);
    } catch {
      throw err;
    }
    return { module, attr };
  }
}

/**
 * Duck-typed rather than instanceof: a user's module may import its own copy of celeriac
 * (node_modules) while a global `celeriac` bin runs from another.
 */
function isApp(value: unknown): value is App {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Partial<Record<keyof App, unknown>>;
  return typeof v.main === 'string' && typeof v.sendTask === 'function' && typeof v.worker === 'function' && v.tasks instanceof Map;
}

function names(exports: Record<string, unknown>): string {
  const keys = Object.keys(exports);
  return keys.length ? keys.join(', ') : 'nothing';
}
