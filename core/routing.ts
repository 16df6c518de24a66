/**
 * Which queue a task is sent to: Celery's task_routes (celery/app/routes.py) — a map of exact
 * names and glob patterns, a router function, or a list of those where the first match wins.
 */
import type { Settings } from './config/settings.js';
import { ConfigError } from './errors.js';

/** A queue name, or `{ queue }` as in Celery's route dicts. */
export type Route = string | { queue: string };

/** Celery's router signature `(name, args, kwargs, options)`; undefined/null = no opinion. */
export type RouteFunction = (
  name: string,
  args: readonly unknown[],
  kwargs: Readonly<Record<string, unknown>>,
  options: Readonly<Record<string, unknown>>,
) => Route | undefined | null;

/** Task name or glob ('tasks.*', 'feed.?ync') → route. */
export type RouteMap = Readonly<Record<string, Route>>;

export type Router = RouteMap | RouteFunction;

export type TaskRoutes = Router | readonly Router[];

function routeProblem(route: unknown): string | null {
  if (typeof route === 'string') return route === '' ? 'an empty queue name' : null;
  if (typeof route !== 'object' || route === null || Array.isArray(route))
    return `${describe(route)}; expected a queue name or { queue: 'name' }`;
  const extra = Object.keys(route).filter((k) => k !== 'queue');
  if (extra.length > 0)
    return `unsupported key(s) ${extra.map((k) => `'${k}'`).join(', ')}; celeriac routes by queue only: { queue: 'name' }`;
  const queue = (route as { queue?: unknown }).queue;
  return typeof queue === 'string' && queue !== '' ? null : `${describe(queue)} as queue; expected { queue: 'name' }`;
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'string') return `'${value}'`;
  return typeof value === 'object' ? 'an object' : `${typeof value} ${String(value)}`;
}

/** Why a task_routes value is unusable, or null when it is fine (used by the settings schema). */
/** Queues that task_routes maps name (a router function's answers cannot be listed: only asked about a task). */
export function routeMapQueues(routes: TaskRoutes | null | undefined): string[] {
  return [routes ?? []]
    .flat()
    .filter((r): r is RouteMap => typeof r !== 'function')
    .flatMap((map) => Object.values(map).map((route) => (typeof route === 'string' ? route : route.queue)));
}

export function checkRoutes(value: unknown): string | null {
  const routers = Array.isArray(value) ? value : [value];
  for (const [i, router] of routers.entries()) {
    const where = Array.isArray(value) ? `task_routes[${i}]` : 'task_routes';
    if (typeof router === 'function') continue;
    if (typeof router !== 'object' || router === null || Array.isArray(router)) {
      // Celery also takes a dotted path to a router class; a TS config passes the function itself.
      return `${where} is ${describe(router)}; expected { 'task.name': 'queue' }, a router function, or a list of those`;
    }
    for (const [pattern, route] of Object.entries(router)) {
      const problem = routeProblem(route);
      if (problem !== null) return `${where}['${pattern}'] is ${problem}`;
    }
  }
  return null;
}

/** fnmatch-style glob (what Celery uses for route keys): * any run, ? one char, [abc] / [!abc] a set. */
export function globToRegExp(glob: string): RegExp {
  let source = '';
  for (let i = 0; i < glob.length; i++) {
    const ch = glob[i] as string;
    if (ch === '*') source += '.*';
    else if (ch === '?') source += '.';
    else if (ch === '[' && glob.indexOf(']', i + 2) !== -1) {
      const end = glob.indexOf(']', i + 2);
      let set = glob.slice(i + 1, end);
      if (set.startsWith('!')) set = `^${set.slice(1)}`;
      source += `[${set.replace(/\\/g, '\\\\')}]`;
      i = end;
    } else source += ch.replace(/[.+^${}()|[\]\\/]/g, '\\$&');
  }
  return new RegExp(`^${source}$`, 's');
}

const isGlob = (key: string) => /[*?[]/.test(key);

function lookupMap(map: RouteMap, name: string): Route | undefined {
  // Exact names win over patterns; patterns are tried in the order written (Celery's MapRoute).
  if (Object.hasOwn(map, name)) return map[name];
  for (const [pattern, route] of Object.entries(map)) {
    if (isGlob(pattern) && globToRegExp(pattern).test(name)) return route;
  }
  return undefined;
}

/**
 * The queue for one send, with Celery 5.2's precedence: the call's `queue` option, then the
 * task's own `queue` option (annotations included), then task_routes (first router that
 * answers), then task_default_queue. Task.apply_async merges the task's options under the
 * call's, and Router.route merges the route under those (celery/app/routes.py, lpmerge), so
 * a queue named by either beats any route; a router is not asked then, as its answer could
 * not change the queue.
 */
export function routeFor(
  taskName: string,
  args: readonly unknown[],
  kwargs: Readonly<Record<string, unknown>>,
  callOptions: Readonly<{ queue?: string | undefined } & Record<string, unknown>>,
  conf: Pick<Settings, 'task_routes' | 'task_default_queue'>,
  taskOptions: Readonly<{ queue?: string | undefined }> = {},
): { queue: string } {
  const named = callOptions.queue || taskOptions.queue;
  if (named) return { queue: named };
  const routes = conf.task_routes;
  const routers: readonly Router[] = routes === null ? [] : Array.isArray(routes) ? routes : [routes as Router];
  for (const router of routers) {
    const route = typeof router === 'function' ? router(taskName, args, kwargs, callOptions) : lookupMap(router, taskName);
    if (route === undefined || route === null) continue;
    const problem = routeProblem(route);
    if (problem !== null) throw new ConfigError(`task_routes gave ${problem} for task '${taskName}'`);
    return { queue: typeof route === 'string' ? route : route.queue };
  }
  return { queue: conf.task_default_queue };
}
