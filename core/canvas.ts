/**
 * Celery's canvas for callers (celery/canvas.py): a signature is a task call not sent yet;
 * `chain` runs signatures one after another, each getting the result before it (prepended to
 * its args, unless made with `si`); `group` runs them side by side; `chord` runs a group, then a
 * body with every result of it. They go out as Celery's client sends them — signature dicts in
 * the message embed, ids frozen first, the chord's size recorded before its header — so Python
 * and celeriac workers run them alike (executor/canvas.ts is the worker's side).
 */
import { randomUUID } from 'node:crypto';
import type { AsyncResult, GetOptions } from './async-result.js';
import { type CallOptions, checkSignatureOptions } from './call-options.js';
import { showValue } from './config/checks.js';
import { ConfigError } from './errors.js';

/** The options a signature carries to its message (Celery's names travel in the dict). */
export type SignatureOptions = Pick<CallOptions, 'queue' | 'priority' | 'countdown'>;

/** What a canvas needs from its app: send a frozen Celery signature dict, and read results. */
export interface CanvasSender {
  applyCanvas(signature: Record<string, unknown>): Promise<void>;
  AsyncResult<R = unknown>(id: string): AsyncResult<R>;
}

/** A Celery signature dict with its ids frozen. */
type Dict = Record<string, unknown>;

/** A task call not sent yet: `add.s(2, 2)`, or in a chain `mul.s(10)` (the result before it comes first). */
export class Signature<R = unknown> {
  constructor(
    readonly sender: CanvasSender,
    readonly task: string,
    readonly args: readonly unknown[],
    readonly options: SignatureOptions = {},
    /** Made with `si`: the result before it is not prepended. */
    readonly immutable = false,
  ) {}

  /** The same call with other options: `add.s(1, 2).set({ queue: 'math' })`. */
  set(options: SignatureOptions): Signature<R> {
    checkSignatureOptions(`${this.task}.s(...).set(options)`, options);
    return new Signature<R>(this.sender, this.task, this.args, { ...this.options, ...options }, this.immutable);
  }

  /** Send it alone. */
  async applyAsync(): Promise<AsyncResult<R>> {
    const { dict, id } = this.freeze();
    await this.sender.applyCanvas(dict);
    return this.sender.AsyncResult<R>(id);
  }

  /** Its dict under a new task id (`extra` options for a group member or chord body). */
  freeze(extra: Dict = {}): { dict: Dict; id: string } {
    const id = randomUUID();
    const { queue, priority, countdown } = this.options;
    const options = {
      task_id: id,
      ...(queue && { queue }),
      ...(priority !== undefined && { priority }),
      ...(countdown !== undefined && { countdown }),
      ...extra,
    };
    return { dict: { task: this.task, args: [...this.args], kwargs: {}, options, subtask_type: null, immutable: this.immutable }, id };
  }
}

type Results<T extends readonly Signature[]> = { -readonly [K in keyof T]: T[K] extends Signature<infer R> ? R : never };
type Last<T extends readonly Signature[]> = T extends readonly [...Signature[], Signature<infer R>] ? R : unknown;

/** The results of a group, in the order of its signatures. */
export class GroupResult<R extends unknown[] = unknown[]> {
  constructor(
    readonly id: string,
    readonly results: AsyncResult[],
  ) {}

  /** Every result, waiting for each (the first failure rejects, as Celery's join does). */
  async get(options?: GetOptions): Promise<R> {
    return (await Promise.all(this.results.map((r) => r.get(options)))) as R;
  }
}

/** `chain(add.s(2, 2), mul.s(10))`: each step gets the result before it; resolves with the last step's result. */
export function chain<T extends readonly [Signature, ...Signature[]]>(...steps: T): { applyAsync(): Promise<AsyncResult<Last<T>>> } {
  checkSignatures('chain(...steps)', steps);
  return {
    async applyAsync() {
      const frozen = steps.map((s) => s.freeze());
      const last = frozen[frozen.length - 1] as { id: string };
      const sender = steps[0].sender;
      await sender.applyCanvas({
        task: 'celery.chain',
        args: [],
        kwargs: { tasks: frozen.map((f) => f.dict) },
        options: {},
        subtask_type: 'chain',
        immutable: false,
      });
      return sender.AsyncResult<Last<T>>(last.id);
    },
  };
}

/** `group(add.s(1, 1), add.s(2, 2))`: run side by side; its result gets every result in order. */
export function group<T extends readonly [Signature, ...Signature[]]>(...members: T): { applyAsync(): Promise<GroupResult<Results<T>>> } {
  checkSignatures('group(...members)', members);
  return {
    async applyAsync() {
      const { dict, ids, id } = frozenGroup(members);
      const sender = members[0].sender;
      await sender.applyCanvas(dict);
      return new GroupResult<Results<T>>(
        id,
        ids.map((i) => sender.AsyncResult(i)),
      );
    },
  };
}

/** `chord([add.s(1, 1), add.s(2, 2)], sum.s())`: the header side by side, then the body with all its results (needs a redis:// result backend). */
export function chord<T extends readonly [Signature, ...Signature[]], R>(
  header: T,
  body: Signature<R>,
): { applyAsync(): Promise<AsyncResult<R>> } {
  checkSignatures('chord(header, body): the header', header);
  checkSignatures('chord(header, body): the body', [body]);
  return {
    async applyAsync() {
      const frozenBody = body.freeze();
      const { dict: group, id } = frozenGroup(header, { chord: frozenBody.dict });
      await body.sender.applyCanvas({
        task: 'celery.chord',
        args: [],
        kwargs: { kwargs: {}, header: group, body: frozenBody.dict },
        options: { task_id: id },
        subtask_type: 'chord',
        immutable: false,
      });
      return body.sender.AsyncResult<R>(frozenBody.id);
    },
  };
}

/** From plain JavaScript anything can come: a list of at least one signature, and nothing else. */
function checkSignatures(where: string, list: unknown): void {
  if (!Array.isArray(list) || list.length === 0) {
    throw new ConfigError(`${where}: give a list of at least one signature, such as [add.s(2, 2)], got ${showValue(list)}`);
  }
  const i = list.findIndex((s) => !(s instanceof Signature));
  if (i >= 0) {
    throw new ConfigError(
      `${where}: each must be a signature such as add.s(2, 2) (task.s(), task.si() or app.signature()), got ${showValue(list[i])}`,
    );
  }
}

function frozenGroup(members: readonly Signature[], extra: Dict = {}): { dict: Dict; ids: string[]; id: string } {
  const frozen = members.map((m, i) => m.freeze({ group_index: i, ...extra }));
  const id = randomUUID();
  return {
    dict: {
      task: 'celery.group',
      args: [],
      kwargs: { tasks: frozen.map((f) => f.dict) },
      options: { task_id: id },
      subtask_type: 'group',
      immutable: false,
    },
    ids: frozen.map((f) => f.id),
    id,
  };
}
