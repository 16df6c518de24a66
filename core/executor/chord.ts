/**
 * A chord as Celery's worker completes it (celery/backends/redis.py, on_chord_part_return): each
 * header task, once its own result is stored, adds its part to the group's record; the one that
 * completes it sends the body with every header result, in header order. When a part failed
 * the body does not run: it is stored as FAILURE ChordError("Dependency <id> raised ...") and
 * its errbacks are called with its id, as Celery does.
 *
 * The record is dropped only after the body went out. A worker dying in between leaves the
 * header task's message to come back; its run adds the same part again (one member) and
 * completes the chord then — at least once, never lost. (Celery drops it first.)
 */
import { ChordError, CeleriacError } from '../errors.js';
import { asExceptionInfo, encodeException } from '../exception-codec.js';
import type { ChordPart } from '../ports.js';
import { pyRepr } from '../repr.js';
import type { ResultMeta } from '../result-meta.js';
import { FAILURE, PROPAGATE_STATES } from '../states.js';
import { type FollowUp, type Signature, followUp, signatures } from './canvas.js';
import type { ParsedCall } from './parse.js';
import { naiveUtcNow } from './results.js';
import type { ExecutorDeps } from './types.js';

/** Whether the task is a chord header task: the store step must then add its part. */
export const inChord = (call: ParsedCall): boolean => call.embed?.chord !== null && call.embed?.chord !== undefined;

/**
 * Add the finished task's part (`result` as its meta holds it) and, when it completes the chord,
 * run the body. What cannot be followed goes to `report`. Throws when the part or the body
 * could not be sent: the caller hands the message back.
 */
export async function joinChord(
  deps: ExecutorDeps,
  call: ParsedCall,
  state: string,
  result: unknown,
  report: (what: string) => void,
): Promise<void> {
  const { id, group, group_index, root_id } = call.message.headers;
  if (typeof group !== 'string' || group === '') {
    report('its chord (the message has no group id to count its header by)');
    return;
  }
  const unsupported: string[] = [];
  const [body] = signatures([call.embed?.chord], 'its chord body', unsupported);
  if (!body) {
    unsupported.forEach(report);
    return;
  }
  if (!deps.backend.chordPart) {
    return report(`its chord (the result backend ${deps.backend.url} cannot keep chords: Celery's chords need a redis:// backend)`);
  }
  const parts = await deps.backend.chordPart({
    groupId: group,
    taskId: id,
    groupIndex: Number.isInteger(group_index) ? group_index : null,
    state,
    result,
  });
  if (!parts) return;
  const send = (f: FollowUp): Promise<void> => {
    if (!deps.sendFollowUp) throw new CeleriacError('this driver cannot send tasks');
    return deps.sendFollowUp(f);
  };
  const rootId = root_id || id;
  const failed = parts.find((p) => PROPAGATE_STATES.has(p.state));
  if (failed) {
    await failBody(deps, body, new ChordError(`Dependency ${failed.taskId} raised ${exceptionRepr(failed.result)}`), rootId, send, report);
  } else {
    await send(
      followUp(
        body,
        parts.map((p) => p.result),
        id,
        rootId,
      ),
    );
  }
  await deps.backend.forgetChord?.(group);
}

/** The body's errbacks get its id; then the body is stored as FAILURE with the ChordError. */
async function failBody(
  deps: ExecutorDeps,
  body: Signature,
  error: ChordError,
  rootId: string,
  send: (f: FollowUp) => Promise<void>,
  report: (what: string) => void,
): Promise<void> {
  const bodyId = typeof body.options?.task_id === 'string' ? body.options.task_id : undefined;
  if (!bodyId) return report(`the failure of its chord body ${body.task}, which has no task id (${error.message})`);
  const linked = body.options?.link_error;
  const unsupported: string[] = [];
  for (const errback of signatures(Array.isArray(linked) ? linked : linked ? [linked] : [], 'a chord body errback', unsupported)) {
    await send(followUp(errback, bodyId, bodyId, rootId));
  }
  unsupported.forEach(report);
  const { info, traceback } = encodeException(error);
  const meta: ResultMeta = { status: FAILURE, result: info, traceback, children: [], date_done: naiveUtcNow(), task_id: bodyId };
  await deps.backend.store(bodyId, meta);
}

/** A failed part's exception as Python's repr shows it: `TypeError('boom')`. */
function exceptionRepr(result: ChordPart['result']): string {
  const info = asExceptionInfo(result);
  if (!info) return pyRepr(result);
  const args = Array.isArray(info.exc_message) ? info.exc_message : [info.exc_message];
  return `${info.exc_type}(${args.map(pyRepr).join(', ')})`;
}
