/**
 * What a Celery worker does with a message's embed after the task (celery-protocol.md §1.2):
 * on success it applies each link callback and the chain's next step (the last element; the rest
 * goes with it as its chain) with the result prepended to their args unless they are immutable;
 * on failure it applies each link_error errback with the failed task's id. Applying a signature
 * is what Celery's apply_async does for its kind (celery/canvas.py): a task is one message; a
 * chain, its first task carrying the rest; a group, one message per task under the group's id;
 * a chord, its header as such a group whose tasks carry the body, once the header's size is
 * recorded (chord.ts completes it). So a Python `chain(...)`, `link=`, `group` or `chord` in a
 * chain runs on celeriac workers as on Celery's; what cannot be followed is reported, never dropped.
 */
import { randomUUID } from 'node:crypto';
import { listOf } from '../canvas.js';
import { isPlainObject } from '../config/checks.js';
import type { ParsedCall } from './parse.js';

/** A Celery signature dict (celery/canvas.py), as it travels in an embed. */
export interface Signature {
  task: string;
  args?: unknown[];
  kwargs?: Record<string, unknown>;
  options?: Record<string, unknown>;
  immutable?: boolean;
  subtask_type?: string | null;
}

/** One message to send: the signature, its args (result prepended or not) and its place in the task tree. */
export interface FollowUp {
  signature: Signature;
  args: unknown[];
  /** null: sent by a caller, not by a task (then the message is its own root). */
  parentId: string | null;
  rootId: string | null;
  /** The rest of the chain, for a chain's next step (as it came: the worker that runs each step reads it). */
  chain?: unknown[];
  /** A group member: the group's id and its place in it. */
  group?: { id: string; index: number };
  /** A chord header task: the body it completes (as it came). */
  chord?: unknown;
}

/** Where follow-ups go in the task tree: under their parent, in its root's tree. */
type Under = Pick<FollowUp, 'parentId' | 'rootId'>;

export interface FollowUps {
  send: FollowUp[];
  /** Chords whose header is in `send`: their size is recorded before anything is sent. */
  chords: Array<{ groupId: string; size: number }>;
  /** Parts of the embed this worker cannot follow, and why. */
  unsupported: string[];
}

/**
 * The follow-ups as Celery's result meta lists a task's children (the results it sent on, as
 * AsyncResult.as_tuple() gives them): `[[id, null], null]` for a task, `[[group id, null],
 * [member, ...]]` for a group's members.
 */
export function childrenOf(followUps: FollowUps): unknown[] {
  const children: unknown[] = [];
  const groups = new Map<string, unknown[]>();
  for (const f of followUps.send) {
    const tuple = [[f.signature.options?.task_id, null], null];
    if (!f.group) {
      children.push(tuple);
      continue;
    }
    let members = groups.get(f.group.id);
    if (!members) {
      members = [];
      groups.set(f.group.id, members);
      children.push([[f.group.id, null], members]);
    }
    members.push(tuple);
  }
  return children;
}

/** Nothing to follow (shared: never added to). */
export const NONE: FollowUps = { send: [], chords: [], unsupported: [] };

/** How deep chains and chords may nest in one signature (Celery's client flattens most nesting away). */
export const MAX_NESTING = 16;

const none = (): FollowUps => ({ send: [], chords: [], unsupported: [] });
const filled = (list: unknown): boolean => Array.isArray(list) && list.length > 0;

/** The follow-ups of a task that returned `value`. */
export function onSuccess(call: ParsedCall, value: unknown): FollowUps {
  const embed = call.embed;
  // Most messages carry an empty embed: nothing to build.
  if (!embed || (!filled(embed.callbacks) && !filled(embed.chain))) return NONE;
  const out = none();
  const { id, root_id } = call.message.headers;
  const under = { parentId: id, rootId: root_id || id };
  for (const link of listOf(embed.callbacks)) applySignature(link, [value], under, out, 'a link callback');
  // The next step is the last element; the rest travels with it as it is, for the next worker.
  const chain = listOf(embed.chain);
  if (chain.length > 0) applySignature(chain.at(-1), [value], under, out, 'the chain’s next step', chain.slice(0, -1));
  return out;
}

/** The follow-ups of a task that failed: its errbacks, called with its id (as Celery calls a remote errback). */
export function onFailure(call: ParsedCall): FollowUps {
  const embed = call.embed;
  if (!embed || !filled(embed.errbacks)) return NONE;
  const out = none();
  const { id, root_id } = call.message.headers;
  for (const errback of listOf(embed.errbacks))
    applySignature(errback, [id], { parentId: id, rootId: root_id || id }, out, 'a link_error errback');
  return out;
}

/**
 * Whether a chord is anywhere in a canvas: in a chain's later step (Celery's client folds a group
 * and the steps after it into one), a group, a chord's body or a link. A sender checks this before
 * sending, since such a chord is only met when its step runs.
 */
export function holdsChord(entry: unknown, depth = 0): boolean {
  if (!isPlainObject(entry) || depth > MAX_NESTING) return false;
  if (entry.subtask_type === 'chord') return true;
  const kwargs = isPlainObject(entry.kwargs) ? entry.kwargs : {};
  const options = isPlainObject(entry.options) ? entry.options : {};
  return [...listOf(kwargs.tasks), kwargs.body, ...listOf(options.link), ...listOf(options.link_error)].some((s) =>
    holdsChord(s, depth + 1),
  );
}

/** The follow-ups of applying `signature` with `prepend` before its args. */
export function applied(signature: unknown, prepend: unknown[], under: Under, what: string): FollowUps {
  const out = none();
  applySignature(signature, prepend, under, out, what);
  return out;
}

/**
 * Add to `out` what applying `entry` takes (see the top). `rest` is the remainder of a chain
 * whose next step `entry` is: it goes on with a task, and cannot follow a group or chord (Celery's
 * client turns "group, then more" into a chord, whose body carries the rest).
 */
function applySignature(
  entry: unknown,
  prepend: unknown[],
  under: Under,
  out: FollowUps,
  what: string,
  rest: unknown[] = [],
  depth = 0,
): void {
  // A chain's first step or an empty chord's body may itself be a chain or chord: bounded, so a
  // message nesting them thousands deep is reported instead of overflowing the stack.
  if (depth > MAX_NESTING) {
    out.unsupported.push(`${what}, nested more than ${MAX_NESTING} deep`);
    return;
  }
  const sig = signature(entry, what, out.unsupported);
  if (!sig) return;
  const kind = sig.subtask_type ?? null;
  if (kind === null) {
    out.send.push({ ...message(sig, prepend, under), ...(rest.length > 0 && { chain: rest }) });
    return;
  }
  // An immutable chain, group or chord passes nothing on to its tasks.
  const args = sig.immutable ? [] : prepend;
  // A group followed by more steps reaches a worker as a chord (Celery's client folds them); a
  // chord followed by more passes them on to its body, as Celery's chord.run does.
  if (rest.length > 0 && kind !== 'chord') {
    out.unsupported.push(`${what} of type ${kind} followed by more steps (a Celery client sends those as a chord)`);
    return;
  }
  // Steps to go on with after this one (a chord body's, from the chain the chord was in).
  const after = listOf(sig.options?.chain);
  if (kind === 'chain') {
    // Celery's embed holds the steps after the next one in reverse: the last element runs next.
    const [first, ...then] = listOf(sig.kwargs?.tasks);
    applySignature(first, args, under, out, 'the first step of a chain', [...after, ...then.reverse()], depth + 1);
  } else if (after.length > 0) {
    out.unsupported.push(`${what} of type ${kind} with steps to go on with (a Celery client sends those as a chord)`);
  } else if (kind === 'group') {
    sendMembers(members(sig, what, out.unsupported), groupId(sig), args, under, out);
  } else if (kind === 'chord') {
    applyChord(sig, args, under, out, what, depth, rest);
  } else {
    out.unsupported.push(`${what} of type ${kind} (celeriac workers follow tasks, chains, groups and chords)`);
  }
}

/**
 * A chord: its header's tasks under the group id, each carrying the body; an empty header runs
 * the body at once with []. `rest`: the chain's steps after the chord, which the body goes on with.
 */
function applyChord(sig: Signature, args: unknown[], under: Under, out: FollowUps, what: string, depth: number, rest: unknown[]): void {
  const header = sig.kwargs?.header;
  const group = isPlainObject(header) ? (header as unknown as Signature) : { task: 'celery.group', kwargs: { tasks: listOf(header) } };
  const tasks = members(group, `the header of ${what}`, out.unsupported);
  if (tasks.length === 0) {
    applySignature(sig.kwargs?.body, [[]], under, out, 'the body of a chord', rest, depth + 1);
    return;
  }
  const body = rest.length > 0 ? goingOnWith(sig.kwargs?.body, rest) : sig.kwargs?.body;
  const id = groupId(group);
  out.chords.push({ groupId: id, size: tasks.length });
  sendMembers(tasks, id, args, under, out, body);
}

/** A chord body that goes on with `rest` when it has run (its own chain's steps first). */
function goingOnWith(body: unknown, rest: unknown[]): unknown {
  if (!isPlainObject(body)) return body;
  const options = isPlainObject(body.options) ? body.options : {};
  return { ...body, options: { ...options, chain: [...rest, ...listOf(options.chain)] } };
}

/** A group's tasks as messages under its id (and, for a chord's header, carrying the body). */
function sendMembers(tasks: Signature[], id: string, args: unknown[], under: Under, out: FollowUps, chord?: unknown): void {
  tasks.forEach((task, i) => {
    out.send.push({ ...message(task, args, under), group: { id, index: indexOf(task, i) }, ...(chord !== undefined && { chord }) });
  });
}

function message(sig: Signature, prepend: unknown[], under: Under): FollowUp {
  const args = sig.args ?? [];
  return { signature: withId(sig), args: sig.immutable ? args : [...prepend, ...args], ...under };
}

/**
 * The signature with its task id: one the client did not freeze (Python's `link=sig` as Celery's
 * docs write it) gets one now, as Celery's apply_async does, so the parent's children list it.
 */
function withId(sig: Signature): Signature {
  return frozenId(sig) ? sig : { ...sig, options: { ...sig.options, task_id: randomUUID() } };
}

/** A group's tasks: plain task signatures only (a nested group or chord is reported). */
function members(group: Signature, what: string, unsupported: string[]): Signature[] {
  const found: Signature[] = [];
  for (const entry of listOf(group.kwargs?.tasks)) {
    const task = signature(entry, `a task of ${what}`, unsupported);
    if (task && (task.subtask_type ?? null) !== null)
      unsupported.push(`a task of ${what} of type ${task.subtask_type} (nested groups are not followed)`);
    else if (task) found.push(task);
  }
  return found;
}

/** The id the client froze for the group, else a new one. */
function groupId(group: Signature): string {
  return frozenId(group) ?? randomUUID();
}

/** The id the client froze for a signature (its task_id option), if it did. */
function frozenId(sig: Signature): string | undefined {
  return sig.options ? taskIdOf(sig.options) : undefined;
}

/** The task id signature options carry (a frozen signature's), if any. */
export function taskIdOf(options: Record<string, unknown>): string | undefined {
  return typeof options.task_id === 'string' && options.task_id !== '' ? options.task_id : undefined;
}

const indexOf = (task: Signature, i: number): number =>
  Number.isInteger(task.options?.group_index) ? (task.options?.group_index as number) : i;

/** `entry` as a signature dict, or the reason it is not one (reported). */
function signature(entry: unknown, what: string, unsupported: string[]): Signature | undefined {
  if (!isPlainObject(entry) || typeof entry.task !== 'string' || entry.task === '') {
    unsupported.push(`${what} that is not a task signature (${JSON.stringify(entry)?.slice(0, 80)})`);
  } else if (
    (entry.args !== undefined && !Array.isArray(entry.args)) ||
    (entry.kwargs !== undefined && !isPlainObject(entry.kwargs)) ||
    // Not an object, options would read the prototype's ('x'.link is a function).
    (entry.options !== undefined && entry.options !== null && !isPlainObject(entry.options))
  ) {
    unsupported.push(`${what} for ${entry.task} whose args, kwargs or options are malformed`);
  } else {
    return entry as unknown as Signature;
  }
  return undefined;
}
