/**
 * Sending what canvas.ts worked out a finished task must send: each chord's size is recorded
 * before its header goes out; what cannot be followed is reported, never dropped silently.
 */
import { CeleriacError } from '../errors.js';
import type { FollowUps } from './canvas.js';
import type { ExecutorDeps } from './types.js';

/**
 * Report what cannot be followed, record the size of each chord being started (a header task
 * finishing at once must find it), then send every message. Throws when one cannot be sent: the
 * caller hands the message back, so everything is sent again when the task runs again.
 */
export async function sendFollowUps(
  deps: Pick<ExecutorDeps, 'backend' | 'sendFollowUp'>,
  followUps: FollowUps,
  report: (what: string) => void,
): Promise<void> {
  followUps.unsupported.forEach(report);
  let send = followUps.send;
  if (followUps.chords.length > 0) {
    const chords = deps.backend.chords;
    if (!chords) {
      report(`a chord (${cannotKeepChords(deps)})`);
      send = send.filter((f) => f.chord === undefined);
    } else {
      for (const { groupId, size } of followUps.chords) await chords.start(groupId, size);
    }
  }
  if (send.length > 0 && !deps.sendFollowUp) throw new CeleriacError('this driver cannot send tasks');
  for (const f of send) await deps.sendFollowUp?.(f);
}

export const cannotKeepChords = (deps: Pick<ExecutorDeps, 'backend'>): string =>
  `the result backend ${deps.backend.url} cannot keep chords: Celery's chords need a redis:// backend`;
