import { describe, expect, it } from 'vitest';
import { checkRoutes, globToRegExp, type RouteFunction, routeFor, type TaskRoutes } from '../../core/routing.js';
import { ConfigError } from '../../core/errors.js';

const conf = (task_routes: TaskRoutes | null, task_default_queue = 'celery') => ({ task_routes, task_default_queue });
const route = (name: string, routes: TaskRoutes | null, call: { queue?: string } = {}, task: { queue?: string } = {}) =>
  routeFor(name, [], {}, call, conf(routes), task).queue;

describe('routeFor (task_routes)', () => {
  it('uses task_default_queue when nothing routes the task', () => {
    expect(route('tasks.add', null)).toBe('celery');
    expect(routeFor('tasks.add', [], {}, {}, conf(null, 'default')).queue).toBe('default');
  });

  it('routes by exact task name, to a queue string or { queue }', () => {
    const routes = { 'tasks.add': 'math', 'tasks.mul': { queue: 'mul' } };
    expect(route('tasks.add', routes)).toBe('math');
    expect(route('tasks.mul', routes)).toBe('mul');
    expect(route('tasks.sub', routes)).toBe('celery');
  });

  it('routes by glob pattern, exact names first, then patterns in order', () => {
    const routes = { 'feed.*': 'feeds', 'tasks.add': 'math', 'tasks.*': 'tasks', 'tasks.a*': 'never' };
    expect(route('tasks.add', routes)).toBe('math');
    expect(route('tasks.anything', routes)).toBe('tasks');
    expect(route('feed.tasks.import', routes)).toBe('feeds');
    expect(route('other', routes)).toBe('celery');
  });

  it('supports ? and [set] like fnmatch, and treats other characters literally', () => {
    expect(globToRegExp('t?sks.*').test('tasks.add')).toBe(true);
    expect(globToRegExp('tasks.[am]*').test('tasks.mul')).toBe(true);
    expect(globToRegExp('tasks.[!am]*').test('tasks.mul')).toBe(false);
    expect(globToRegExp('tasks.add').test('tasksXadd')).toBe(false);
    expect(globToRegExp('a+b(c)').test('a+b(c)')).toBe(true);
  });

  it('routes by function, which receives name, args, kwargs and options', () => {
    const calls: unknown[][] = [];
    const router: RouteFunction = (name, args, kwargs, options) => {
      calls.push([name, args, kwargs, options]);
      return (args[0] as number) > 10 ? { queue: 'big' } : undefined;
    };
    expect(routeFor('tasks.add', [11, 1], { k: 1 }, { priority: 3 }, conf(router)).queue).toBe('big');
    expect(routeFor('tasks.add', [1, 1], {}, {}, conf(router)).queue).toBe('celery');
    expect(calls[0]).toEqual(['tasks.add', [11, 1], { k: 1 }, { priority: 3 }]);
  });

  it('tries a list of routers in order, first answer wins', () => {
    const routes: TaskRoutes = [() => null, { 'tasks.*': 'second' }, () => 'third'];
    expect(route('tasks.add', routes)).toBe('second');
    expect(route('other.x', routes)).toBe('third');
  });

  it("precedence, as Celery's: call option queue > task option queue > routes > task_default_queue", () => {
    const routes = { 'tasks.add': 'routed' };
    expect(route('tasks.add', routes, { queue: 'call' }, { queue: 'task' })).toBe('call');
    expect(route('tasks.add', routes, {}, { queue: 'task' })).toBe('task');
    expect(route('tasks.add', routes)).toBe('routed');
    expect(route('tasks.mul', routes, {}, { queue: 'task' })).toBe('task');
    expect(route('tasks.mul', routes)).toBe('celery');
  });

  it('a router function that returns something unusable is a ConfigError naming the task', () => {
    expect(() => route('tasks.add', () => ({ queue: 5 }) as never)).toThrow(ConfigError);
    expect(() => route('tasks.add', () => 42 as never)).toThrow(/tasks\.add/);
  });

  it('checkRoutes explains what is wrong with a task_routes value', () => {
    expect(checkRoutes({ 'tasks.add': 'math' })).toBeNull();
    expect(checkRoutes([{ a: 'q' }, () => null])).toBeNull();
    expect(checkRoutes('myapp.routers.Router')).toContain('a router function');
    expect(checkRoutes([{ a: 'q' }, 7])).toContain('task_routes[1]');
    expect(checkRoutes({ a: { queue: '' } })).toContain("task_routes['a']");
    expect(checkRoutes({ a: { routing_key: 'x', queue: 'q' } })).toContain("'routing_key'");
  });
});
