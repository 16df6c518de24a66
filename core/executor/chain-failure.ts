/**
 * A failed task's chain fails with it, as Celery's mark_as_failure does (celery/backends/base.py):
 * each remaining step with a task id of its own gets the same FAILURE, so a caller waiting on the
 * chain's last step hears of it instead of waiting forever; a step that is a chord header task
 * adds its failed part too, so the chord's body fails rather than waiting for a part that never
 * comes.
 *
 * Beyond Celery, whose client finds the error by walking a result's parents (AsyncResult.get),
 * what would have run in a later step's place fails too, since celeriac's handle (the last step's
 * id, as Celery's) has no parents to walk: a chord step's body (its errbacks get its id, as when a
 * header part fails) and the steps it goes on with, a chain step's tasks, a group step's members.
 * A chord's header never runs, so it adds no parts.
 */
import { listOf } from '../canvas.js';
import { isPlainObject } from '../config/checks.js';
import { encodeException } from '../exception-codec.js';
import { FAILURE } from '../states.js';
import { MAX_NESTING, applied, taskIdOf } from './canvas.js';
import { joinChord } from './chord.js';
import type { ParsedCall } from './parse.js';
import { celeryMeta } from './results.js';
import { sendFollowUps } from './send-follow-ups.js';
import type { ExecutorDeps } from './types.js';

/** Whether the failed task has chain steps left to fail. */
export const chainFollows = (call: ParsedCall): boolean => listOf(call.embed?.chain).length > 0;

/** What failing the steps takes: the failed call, its error as stored, and the errbacks it already ran. */
interface Failing {
  deps: ExecutorDeps;
  call: ParsedCall;
  encoded: ReturnType<typeof encodeException>;
  /** false when the failed task's own results are ignored: nothing is stored for the steps either. */
  store: boolean;
  /** Its errbacks, as JSON: a chain's link_error, which Celery's client puts on every step, runs once. */
  ran: Set<string>;
  report: (what: string) => void;
}

/** Fail the remaining steps of `call`'s chain with `error`; `store` is false when the failed task's own results are ignored. */
export async function failChain(
  deps: ExecutorDeps,
  call: ParsedCall,
  error: unknown,
  store: boolean,
  report: (what: string) => void,
): Promise<void> {
  const ran = new Set(listOf(call.embed?.errbacks).map((e) => JSON.stringify(e)));
  const failing = { deps, call, encoded: encodeException(error), store, ran, report };
  await Promise.all(listOf(call.embed?.chain).map((step) => neverRuns(failing, step, 0)));
}

/**
 * A chord body that will never run (a header part failed, or the broker refused the body for
 * good): its errbacks get its id, and it fails with `error`, with what it would have gone on with
 * (a chain body's steps, the steps after the chord).
 */
export async function failChordBody(
  deps: ExecutorDeps,
  call: ParsedCall,
  body: unknown,
  error: unknown,
  report: (what: string) => void,
): Promise<void> {
  const failing = { deps, call, encoded: encodeException(error), store: true, ran: new Set<string>(), report };
  if (!idOf(body)) return report(`the failure of its chord body, which has no task id (${errorMessage(error)})`);
  await runErrbacks(failing, body);
  await neverRuns(failing, body, 0);
}

const errorMessage = (error: unknown): string => (error instanceof Error ? error.message : String(error));

/** Fail a signature that will never run, and what would have run in its place. */
async function neverRuns(f: Failing, step: unknown, depth: number): Promise<void> {
  if (!isPlainObject(step) || depth > MAX_NESTING) return;
  const options = isPlainObject(step.options) ? step.options : {};
  const id = taskIdOf(options);
  const { info, traceback } = f.encoded;
  if (id) {
    if (f.store) await f.deps.backend.store(id, celeryMeta(id, FAILURE, info, traceback));
    if (options.chord !== undefined && options.chord !== null) {
      await joinChord(f.deps, stepCall(f.call, id, options), FAILURE, info, f.report);
    }
  }
  const kwargs = isPlainObject(step.kwargs) ? step.kwargs : {};
  const kind = step.subtask_type;
  if (kind === 'chord') await runErrbacks(f, kwargs.body);
  const inPlace = kind === 'chord' ? [kwargs.body] : kind === 'chain' || kind === 'group' ? listOf(kwargs.tasks) : [];
  // A chord body's options.chain: the steps after the chord, handed to it as Celery's chord.run does.
  await Promise.all([...inPlace, ...listOf(options.chain)].map((s) => neverRuns(f, s, depth + 1)));
}

/** A chord body's errbacks get its id (a chain's: its first step's), as when a header part fails, unless the failed task ran them. */
async function runErrbacks(f: Failing, body: unknown): Promise<void> {
  const options = isPlainObject(body) && isPlainObject(body.options) ? body.options : {};
  const errbacks = listOf(options.link_error).filter((e) => !f.ran.has(JSON.stringify(e)));
  if (errbacks.length === 0) return;
  const id = idOf(body);
  if (!id) return f.report('the errbacks of a chord body that has no task id');
  const under = { parentId: id, rootId: id };
  for (const errback of errbacks) await sendFollowUps(f.deps, applied(errback, [id], under, 'a chord body errback'), f.report);
}

/** A signature's own task id, or for a chain (which has none) its first step's. */
function idOf(sig: unknown, depth = 0): string | undefined {
  if (!isPlainObject(sig) || depth > MAX_NESTING) return undefined;
  const id = taskIdOf(isPlainObject(sig.options) ? sig.options : {});
  if (id) return id;
  const tasks = isPlainObject(sig.kwargs) ? listOf(sig.kwargs.tasks) : [];
  return sig.subtask_type === 'chain' ? idOf(tasks[0], depth + 1) : undefined;
}

/** A chain step that never ran, as joinChord reads a header task: its id, its group and the body it completes. */
function stepCall(call: ParsedCall, id: string, options: Record<string, unknown>): ParsedCall {
  const headers = {
    ...call.message.headers,
    id,
    group: typeof options.group_id === 'string' ? options.group_id : null,
    group_index: typeof options.group_index === 'number' ? options.group_index : null,
  };
  return {
    message: { ...call.message, headers },
    args: [],
    kwargs: {},
    embed: { callbacks: null, errbacks: null, chain: null, chord: options.chord },
  };
}
