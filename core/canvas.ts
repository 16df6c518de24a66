/**
 * Celery's canvas for callers (celery/canvas.py): a signature is a task call not sent yet;
 * `chain` runs signatures one after another, each getting the result before it (prepended to
 * its args, unless made with `si`); `group` runs them side by side; `chord` runs a group, then a
 * body with every result of it. They go out as Celery's client sends them — signature dicts in
 * the message embed, ids frozen first, the chord's size recorded before its header — so Python
 * and celeriac workers run them alike (executor/canvas.ts is the worker's side).
 */
import { randomUUID } from 'node:crypto';
import type { AsyncResult } from './async-result.js';
import { type CallOptions, checkSignatureOptions } from './call-options.js';
import { showValue } from './config/checks.js';
import { ConfigError } from './errors.js';
import { GroupResult } from './group-result.js';

/** The options a signature carries to its message (Celery's names travel in the dict). */
export type SignatureOptions = Pick<CallOptions, 'queue' | 'priority' | 'countdown'>;

/** What a canvas needs from its app: send a frozen Celery signature dict, and read results. */
export interface CanvasSender {
  applyCanvas(signature: Record<string, unknown>): Promise<void>;
  AsyncResult<R = unknown>(id: string): AsyncResult<R>;
}

/** An embed field or signature option that is one signature or a list of them (Celery takes both). */
export const listOf = (v: unknown): unknown[] => (v === undefined || v === null ? [] : Array.isArray(v) ? v : [v]);

/** A Celery signature dict with its ids frozen. */
type Dict = Record<string, unknown>;

/** A canvas frozen: its Celery dict and the handle of the result it stands for. */
interface Frozen<H> {
  dict: Dict;
  handle: H;
}

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
  applyAsync(): Promise<AsyncResult<R>> {
    return send(this.sender, this.freeze());
  }

  /** Its dict under a new task id (`extra` options for a group member or chord body), and the handle of its result. */
  freeze(extra: Dict = {}): Frozen<AsyncResult<R>> {
    const id = randomUUID();
    const { queue, priority, countdown } = this.options;
    const options = {
      task_id: id,
      ...(queue && { queue }),
      ...(priority !== undefined && { priority }),
      ...(countdown !== undefined && { countdown }),
      ...extra,
    };
    return {
      dict: { task: this.task, args: [...this.args], kwargs: {}, options, subtask_type: null, immutable: this.immutable },
      handle: this.sender.AsyncResult<R>(id),
    };
  }
}

type Results<T extends readonly Signature[]> = { -readonly [K in keyof T]: T[K] extends Signature<infer R> ? R : never };

/** `group(add.s(1, 1), add.s(2, 2))`: run side by side; its result gets every result in order. */
export class Group<R extends unknown[] = unknown[]> {
  constructor(readonly members: readonly Signature[]) {
    checkSignatures('group(...members)', members);
  }

  get sender(): CanvasSender {
    return (this.members[0] as Signature).sender;
  }

  freeze(extra: Dict = {}): Frozen<GroupResult<R>> {
    return freezeGroup<R>(this.members, extra);
  }

  async applyAsync(): Promise<GroupResult<R>> {
    return send(this.sender, this.freeze());
  }
}

/**
 * `chord([add.s(1, 1), add.s(2, 2)], total.s())`: the header side by side, then the body with all
 * its results (needs a result backend). An empty header sends the body at once with [], as Celery's
 * chord.run does.
 */
export class Chord<R = unknown> {
  constructor(
    readonly header: readonly Signature[],
    readonly body: Signature<R>,
  ) {
    checkSignatures('chord(header, body): the header', header, { empty: true });
    checkSignatures('chord(header, body): the body', [body]);
  }

  get sender(): CanvasSender {
    return this.body.sender;
  }

  freeze(): Frozen<AsyncResult<R>> {
    const body = this.body.freeze();
    const header = freezeGroup(this.header, { chord: body.dict }).dict;
    return { dict: chordDict(header, body.dict), handle: body.handle };
  }

  async applyAsync(): Promise<AsyncResult<R>> {
    return send(this.sender, this.freeze());
  }
}

/** What a chain step can be, and the result handle each stands for. */
type Step = Signature | Group | Chord;
type HandleOf<S> =
  S extends Signature<infer R>
    ? AsyncResult<R>
    : S extends Group<infer Rs>
      ? GroupResult<Rs>
      : S extends Chord<infer R>
        ? AsyncResult<R>
        : never;
/** A tuple's last element; for an array built at run time (`chain(...steps)`), any of its elements. */
type LastOf<T extends readonly unknown[]> = T extends readonly [...unknown[], infer L] ? L : T[number];
/**
 * Refuses, at compile time, a list known to be empty (`group()`, `chain()`); a tuple or an array
 * built at run time passes (the constructors refuse an empty one when it runs).
 */
type NotEmpty<T extends readonly unknown[]> = [T[number]] extends [never] ? 'give at least one signature' : unknown;

/**
 * `chain(add.s(2, 2), mul.s(10))`: each step gets the result before it; resolves with the last
 * step's result. A group or chord may be a step: as Celery's client does, one followed by more
 * steps becomes a chord whose body carries the rest (a group's results go on as one list).
 */
export class Chain<H> {
  constructor(readonly steps: readonly Step[]) {
    if (
      !Array.isArray(steps) ||
      steps.length === 0 ||
      steps.some((s) => !(s instanceof Signature || s instanceof Group || s instanceof Chord))
    ) {
      throw new ConfigError(
        `chain(...steps): give at least one step, each a signature such as add.s(2, 2), a group or a chord; got ${showValue(steps)}`,
      );
    }
  }

  async applyAsync(): Promise<H> {
    const frozen: Frozen<unknown>[] = this.steps.map((s) => s.freeze());
    const sender = (this.steps[0] as Step).sender;
    return send(sender, { dict: chainOf(frozen.map((f) => f.dict)), handle: (frozen[frozen.length - 1] as Frozen<H>).handle });
  }
}

export function chain<T extends readonly Step[]>(...steps: T & NotEmpty<T>): Chain<HandleOf<LastOf<T>>> {
  return new Chain<HandleOf<LastOf<T>>>(steps);
}

export function group<T extends readonly Signature[]>(...members: T & NotEmpty<T>): Group<Results<T>> {
  return new Group<Results<T>>(members);
}

export function chord<R>(header: readonly Signature[], body: Signature<R>): Chord<R> {
  return new Chord<R>(header, body);
}

/** Members as a group's dict under a new id (`extra` options for each: a chord header's body), and its GroupResult. */
function freezeGroup<R extends unknown[]>(members: readonly Signature[], extra: Dict): Frozen<GroupResult<R>> {
  const frozen = members.map((m, i) => m.freeze({ group_index: i, ...extra }));
  const id = randomUUID();
  const dict = {
    task: 'celery.group',
    args: [],
    kwargs: { tasks: frozen.map((f) => f.dict) },
    options: { task_id: id },
    subtask_type: 'group',
    immutable: false,
  };
  return {
    dict,
    handle: new GroupResult<R>(
      id,
      frozen.map((f) => f.handle),
    ),
  };
}

async function send<H>(sender: CanvasSender, frozen: Frozen<H>): Promise<H> {
  await sender.applyCanvas(frozen.dict);
  return frozen.handle;
}

/** Steps as one dict, folding a group or chord that has steps after it into a chord whose body runs them (Celery's chain.prepare_steps). */
function chainOf(steps: Dict[]): Dict {
  const i = steps.findIndex((d, k) => k < steps.length - 1 && (d.subtask_type === 'group' || d.subtask_type === 'chord'));
  if (i < 0) return steps.length === 1 ? (steps[0] as Dict) : chainDict(steps);
  const step = steps[i] as Dict & { kwargs: Dict };
  const rest = steps.slice(i + 1);
  const folded =
    step.subtask_type === 'group'
      ? chordDict(step, chainOf(rest))
      : chordDict(step.kwargs.header as Dict, chainOf([step.kwargs.body as Dict, ...rest]));
  return chainOf([...steps.slice(0, i), folded]);
}

const chainDict = (tasks: Dict[]): Dict => ({
  task: 'celery.chain',
  args: [],
  kwargs: { tasks },
  options: {},
  subtask_type: 'chain',
  immutable: false,
});

function chordDict(header: Dict, body: Dict): Dict {
  const id = (header.options as Dict | undefined)?.task_id;
  return {
    task: 'celery.chord',
    args: [],
    kwargs: { kwargs: {}, header, body },
    options: { task_id: id },
    subtask_type: 'chord',
    immutable: false,
  };
}

/** From plain JavaScript anything can come: a list of signatures (at least one, unless `empty` may be), and nothing else. */
function checkSignatures(where: string, list: unknown, { empty = false } = {}): void {
  if (!Array.isArray(list) || (list.length === 0 && !empty)) {
    const what = empty ? 'a list of signatures' : 'a list of at least one signature';
    throw new ConfigError(`${where}: give ${what}, such as [add.s(2, 2)], got ${showValue(list)}`);
  }
  const i = list.findIndex((s) => !(s instanceof Signature));
  if (i >= 0) {
    throw new ConfigError(
      `${where}: each must be a signature such as add.s(2, 2) (task.s(), task.si() or app.signature()), got ${showValue(list[i])}`,
    );
  }
}
