/**
 * A failed task's chain fails with it, as Celery's mark_as_failure does (celery/backends/base.py):
 * each remaining step with a task id of its own gets the same FAILURE, so a caller waiting on the
 * chain's last step hears of it instead of waiting forever; a step that is a chord header task
 * adds its failed part too, so the chord's body fails rather than waiting for a part that never
 * comes. A step without an id (a group or chord Celery's client folded in) is skipped, as Celery
 * skips it.
 */
import { listOf } from '../canvas.js';
import { isPlainObject } from '../config/checks.js';
import { encodeException } from '../exception-codec.js';
import { FAILURE } from '../states.js';
import { joinChord } from './chord.js';
import type { ParsedCall } from './parse.js';
import { celeryMeta } from './results.js';
import type { ExecutorDeps } from './types.js';

/** Whether the failed task has chain steps left to fail. */
export const chainFollows = (call: ParsedCall): boolean => listOf(call.embed?.chain).length > 0;

/** Fail the remaining steps of `call`'s chain with `error`; `store` is false when the failed task's own results are ignored. */
export async function failChain(
  deps: ExecutorDeps,
  call: ParsedCall,
  error: unknown,
  store: boolean,
  report: (what: string) => void,
): Promise<void> {
  const { info, traceback } = encodeException(error);
  await Promise.all(
    listOf(call.embed?.chain).map(async (step) => {
      const options = isPlainObject(step) && isPlainObject(step.options) ? step.options : {};
      const id = typeof options.task_id === 'string' && options.task_id ? options.task_id : undefined;
      if (!id) return;
      if (store) await deps.backend.store(id, celeryMeta(id, FAILURE, info, traceback));
      if (options.chord !== undefined && options.chord !== null) {
        await joinChord(deps, stepCall(call, id, options), FAILURE, info, report);
      }
    }),
  );
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
