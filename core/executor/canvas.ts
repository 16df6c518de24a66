/**
 * What a Celery worker does with a message's embed after the task (celery-protocol.md §1.2):
 * on success it sends each link callback and the chain's next step (the last element; the rest
 * goes with it as its chain), with the result prepended to their args unless they are
 * immutable; on failure it sends each link_error errback with the failed task's id. So a
 * Python `chain(add.s(1, 2), add.s(10))` or `link=` runs on celeriac workers as on Celery's.
 * A chord header task's part is chord.ts's; what cannot be followed is reported, never dropped.
 */
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

/** One follow-up to send: the signature, its args (result prepended or not) and its place in the task tree. */
export interface FollowUp {
  signature: Signature;
  args: unknown[];
  parentId: string;
  rootId: string;
  /** The rest of the chain, for a chain's next step (as it came: the worker that runs each step reads it). */
  chain?: unknown[];
}

export interface FollowUps {
  send: FollowUp[];
  /** Parts of the embed this worker cannot follow, and why. */
  unsupported: string[];
}

/** Nothing to follow (shared: never added to). */
export const NONE: FollowUps = { send: [], unsupported: [] };

const filled = (list: unknown): boolean => Array.isArray(list) && list.length > 0;

/** The follow-ups of a task that returned `value`. */
export function onSuccess(call: ParsedCall, value: unknown): FollowUps {
  const embed = call.embed;
  // Most messages carry an empty embed: nothing to build.
  if (!embed || (!filled(embed.callbacks) && !filled(embed.chain))) return NONE;
  const out: FollowUps = { send: [], unsupported: [] };
  for (const sig of signatures(embed.callbacks, 'a link callback', out.unsupported)) out.send.push(followUpOf(call, sig, value));
  // The next step is the last element; the rest travels with it as it is, for the next worker.
  const chain = Array.isArray(embed.chain) ? embed.chain : [];
  const [next] = signatures(chain.slice(-1), 'the chain’s next step', out.unsupported);
  if (next) out.send.push({ ...followUpOf(call, next, value), chain: chain.slice(0, -1) });
  return out;
}

/** The follow-ups of a task that failed: its errbacks, called with its id (as Celery calls a remote errback). */
export function onFailure(call: ParsedCall): FollowUps {
  const embed = call.embed;
  if (!embed || !filled(embed.errbacks)) return NONE;
  const out: FollowUps = { send: [], unsupported: [] };
  for (const sig of signatures(embed.errbacks, 'a link_error errback', out.unsupported))
    out.send.push(followUpOf(call, sig, call.message.headers.id));
  return out;
}

/** A follow-up of the task `call` ran: under it, in its tree. */
const followUpOf = (call: ParsedCall, signature: Signature, prepend: unknown): FollowUp =>
  followUp(signature, prepend, call.message.headers.id, call.message.headers.root_id || call.message.headers.id);

/** `signature` to send with `prepend` before its args (unless it is immutable). */
export function followUp(signature: Signature, prepend: unknown, parentId: string, rootId: string): FollowUp {
  const args = signature.args ?? [];
  return { signature, args: signature.immutable ? args : [prepend, ...args], parentId, rootId };
}

/** The plain task signatures of an embed list; groups, chords and unreadable entries are reported. */
export function signatures(list: unknown, what: string, unsupported: string[]): Signature[] {
  if (!Array.isArray(list)) return [];
  const found: Signature[] = [];
  for (const entry of list) {
    if (!isPlainObject(entry) || typeof entry.task !== 'string' || entry.task === '') {
      unsupported.push(`${what} that is not a task signature (${JSON.stringify(entry)?.slice(0, 80)})`);
    } else if (entry.subtask_type) {
      unsupported.push(`${what} of type ${entry.subtask_type} (celeriac workers follow plain task signatures only)`);
    } else if ((entry.args !== undefined && !Array.isArray(entry.args)) || (entry.kwargs !== undefined && !isPlainObject(entry.kwargs))) {
      unsupported.push(`${what} for ${entry.task} whose args or kwargs are malformed`);
    } else {
      found.push(entry as unknown as Signature);
    }
  }
  return found;
}
