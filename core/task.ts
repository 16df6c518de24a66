/**
 * A registered task: its name, options and function, and the typed ways to call it.
 * The argument types are the function's parameters minus a trailing TaskContext.
 */
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { AsyncResult } from './async-result.js';
import type { CallOptions } from './call-options.js';
import { type CanvasSender, Signature } from './canvas.js';
import type { TaskHeaders } from './message.js';
import { type TaskContext, createTaskContext } from './task-context.js';
import type { TaskOptions } from './task-options.js';

// biome-ignore lint/suspicious/noExplicitAny: a task function may take anything; the context comes last.
export type TaskFn = (...args: any[]) => unknown;

/**
 * The positional arguments a caller passes: the parameters without the trailing context. A
 * required trailing parameter typed `any` counts as the context: an unannotated `ctx` is typed
 * `any` (app.task gives no parameter a type of its own). An optional one counts only when typed
 * TaskContext (`ctx?: TaskContext`): an unannotated default (`factor = 10`) is typed `any` too, and
 * stays an argument. Every argument is required, optional and default ones too: the executor
 * passes the context after the args it was given, so one left out would be filled by the context.
 */
export type TaskArgs<A extends unknown[]> = A extends [...infer Rest, TaskContext]
  ? Required<Rest>
  : Required<A> extends [...infer Rest, infer Last extends TaskContext]
    ? 0 extends 1 & Last
      ? Required<A>
      : Rest
    : Required<A>;

/**
 * What `app.task` checks of a task function besides F itself: a rest parameter whose items cannot
 * hold the context (`...items: string[]`) is refused, since the context arrives as its last item.
 * One of `unknown` (`...params: unknown[]`, taking whatever a caller sends) keeps it, for the task to pop.
 */
export type FixedArity<F extends TaskFn> = number extends Parameters<F>['length']
  ? TaskContext extends Parameters<F>[number]
    ? unknown
    : 'a task function cannot take a typed rest parameter (...items: T[]): its TaskContext would arrive as the last item; take an array, or ...params: unknown[]'
  : unknown;

/** Accepts a task function type or a Task (so `sendTask<typeof add>` works with `import type`). */
export type FnOf<T> = T extends Task<infer F> ? F : T extends TaskFn ? T : TaskFn;
export type ArgsOf<T> = FnOf<T> extends (...args: infer A) => unknown ? TaskArgs<A> : unknown[];
export type ResultOf<T> = Awaited<ReturnType<FnOf<T>>>;

/** Any tail of an argument list: the arguments a chained signature is given (the result before it comes first). */
export type ArgsSuffix<A extends unknown[]> = A | (A extends [unknown, ...infer Rest] ? ArgsSuffix<Rest> : never);

/** applyAsync's parameters: the args may be left out only by a task that takes none. */
type ApplyParams<A extends unknown[]> = [] extends A
  ? [args?: A, kwargs?: Record<string, unknown>, options?: CallOptions]
  : [args: A, kwargs?: Record<string, unknown>, options?: CallOptions];

/** What a Task needs from its app to send itself. */
export interface TaskSender extends CanvasSender {
  sendTask<T>(
    name: string,
    args: ArgsOf<T>,
    kwargs?: Record<string, unknown>,
    options?: CallOptions,
    task?: Task,
  ): Promise<AsyncResult<ResultOf<T>>>;
  sendMany<T>(name: string, argsList: readonly ArgsOf<T>[], options?: CallOptions, task?: Task): Promise<AsyncResult<ResultOf<T>>[]>;
  AsyncResult<R = unknown>(id: string): AsyncResult<R>;
}

export class Task<F extends TaskFn = TaskFn> {
  constructor(
    private readonly sender: TaskSender,
    readonly name: string,
    readonly fn: F,
    readonly options: Readonly<TaskOptions>,
  ) {}

  /** Send the task with positional arguments: `add.delay(4, 4)`. */
  delay(...args: TaskArgs<Parameters<F>>): Promise<AsyncResult<ResultOf<F>>> {
    return this.applyAsync(args);
  }

  /** Send with keyword arguments (given to the task as `ctx.kwargs`) and call options (countdown, eta, expires, queue...). */
  applyAsync(...[args, kwargs, options]: ApplyParams<TaskArgs<Parameters<F>>>): Promise<AsyncResult<ResultOf<F>>> {
    return this.sender.sendTask<F>(this.name, (args ?? []) as unknown as ArgsOf<F>, kwargs, options, this as unknown as Task);
  }

  /**
   * Send the task once per entry (its positional args), with the same call options, as one
   * batch per queue: `await add.applyMany([[1, 2], [3, 4]], { countdown: 5 })`.
   */
  applyMany(argsList: readonly TaskArgs<Parameters<F>>[], options?: CallOptions): Promise<AsyncResult<ResultOf<F>>[]> {
    return this.sender.sendMany<F>(this.name, argsList as unknown as readonly ArgsOf<F>[], options, this as unknown as Task);
  }

  /**
   * A signature for chain, group and chord: `add.s(2, 2)`, or a later step of a chain given only
   * its last arguments, `mul.s(10)` (the result before it is prepended, as in Celery).
   */
  s(...args: ArgsSuffix<TaskArgs<Parameters<F>>>): Signature<ResultOf<F>> {
    return new Signature<ResultOf<F>>(this.sender, this.name, args);
  }

  /** An immutable signature: it runs with exactly these arguments, the result before it is not prepended. */
  si(...args: TaskArgs<Parameters<F>>): Signature<ResultOf<F>> {
    return new Signature<ResultOf<F>>(this.sender, this.name, args, {}, true);
  }

  /** Run the function here and now, as Celery's `task(...)` does: no broker, no result backend. */
  async run(...args: TaskArgs<Parameters<F>>): Promise<ResultOf<F>> {
    const id = randomUUID();
    const ctx = createTaskContext({
      id,
      name: this.name,
      headers: localHeaders(this.name, id),
      kwargs: {},
      signal: new AbortController().signal,
      hostname: hostname(),
      options: this.options,
      updateState: async () => {},
    });
    return (await this.fn(...args, ctx)) as ResultOf<F>;
  }

  AsyncResult(id: string): AsyncResult<ResultOf<F>> {
    return this.sender.AsyncResult<ResultOf<F>>(id);
  }

  toString(): string {
    return `<@task: ${this.name}>`;
  }
}

function localHeaders(name: string, id: string): TaskHeaders {
  return {
    lang: 'py',
    task: name,
    id,
    shadow: null,
    eta: null,
    expires: null,
    group: null,
    group_index: null,
    retries: 0,
    timelimit: [null, null],
    root_id: id,
    parent_id: null,
    argsrepr: '',
    kwargsrepr: '',
    origin: '',
    ignore_result: true,
  };
}
