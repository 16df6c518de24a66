/**
 * Completing chords as Celery's worker does
 * (celery/backends/redis.py, on_chord_part_return): each header task, once its own result is
 * stored, adds its part to the group's record; the one that completes it applies the body with
 * every header result, in header order. When a part failed (or the broker refuses the body for
 * good) the body does not run: it is stored as FAILURE ChordError("Dependency <id> raised ...",
 * "Callback error: ...") and its errbacks get its id, as Celery does.
 *
 * The record is dropped only after the body went out. A worker dying in between (or a body
 * the broker refused for the moment) leaves the header task's message to come back; its run finds
 * its part already there (one per task, the first kept, whatever this run returned) and completes
 * the chord then — at least once, never lost. (Celery drops it first.)
 */
import { ChordError, ConfigError, refusedForGood, unstorable } from '../errors.js';
import { asExceptionInfo } from '../exception-codec.js';
import type { ChordPart } from '../ports.js';
import { errorRepr, pyRepr } from '../repr.js';
import { PROPAGATE_STATES } from '../states.js';
import { applied } from './canvas.js';
import { failChordBody } from './chain-failure.js';
import { cannotKeepChords, sendFollowUps } from './send-follow-ups.js';
import type { ParsedCall } from './parse.js';
import type { ExecutorDeps } from './types.js';

/** Whether the task is a chord header task: its store step must then add its part. */
export const inChord = (call: ParsedCall): boolean => call.embed?.chord !== null && call.embed?.chord !== undefined;

/**
 * Add the finished task's part (`result` as its meta holds it) and, when it completes the chord,
 * apply the body. What cannot be followed goes to `report`. Throws when the part or the body
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
  if (typeof group !== 'string' || group === '') return report('its chord (the message has no group id to count its header by)');
  const chords = deps.backend.chords;
  if (!chords) return report(`its chord (${cannotKeepChords(deps)})`);
  const body = call.embed?.chord;
  let parts: ChordPart[] | undefined;
  try {
    parts = await chords.addPart({
      groupId: group,
      taskId: id,
      groupIndex: Number.isInteger(group_index) ? group_index : null,
      state,
      result,
    });
  } catch (error) {
    // The store can never hold this part (too large for a DynamoDB item, no place in the header to keep it by) or has lost others: the chord can never complete, so its body fails now.
    if (!unstorable(error) && !(error instanceof ConfigError) && !(error instanceof ChordError)) throw error;
    await failChordBody(deps, call, body, new ChordError(`Callback error: ${errorRepr(error)}`), report);
    return chords.forget(group);
  }
  if (!parts) return;
  const failed = parts.find((p) => PROPAGATE_STATES.has(p.state));
  if (failed) {
    await failChordBody(deps, call, body, new ChordError(`Dependency ${failed.taskId} raised ${exceptionRepr(failed.result)}`), report);
  } else {
    const under = { parentId: id, rootId: root_id || id };
    try {
      await sendFollowUps(deps, applied(body, [parts.map((p) => p.result)], under, 'its chord body'), report);
    } catch (error) {
      // Refused for good (the results make it too large, say): the body fails as in Celery.
      if (!refusedForGood(error)) throw error;
      await failChordBody(deps, call, body, new ChordError(`Callback error: ${errorRepr(error)}`), report);
    }
  }
  await chords.forget(group);
}

/** A failed part's exception as Python's repr shows it: `TypeError('boom')`. */
function exceptionRepr(result: ChordPart['result']): string {
  const info = asExceptionInfo(result);
  if (!info) return pyRepr(result);
  const args = Array.isArray(info.exc_message) ? info.exc_message : [info.exc_message];
  return `${info.exc_type}(${args.map(pyRepr).join(', ')})`;
}
