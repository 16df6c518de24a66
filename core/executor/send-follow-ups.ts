/**
 * Sending what canvas.ts worked out a finished task must send: each chord's size is recorded
 * before its header goes out; what cannot be followed is reported, never dropped silently.
 */
import { CeleriacError } from '../errors.js';
import type { FollowUps } from './canvas.js';
import type { ResultBackend } from '../ports.js';
import type { ExecutorDeps } from './types.js';

/** What of `followUps` cannot be followed here, and why: parts canvas.ts refused, chords on a backend that keeps none. */
export function unfollowable(followUps: FollowUps, backend: ResultBackend): string[] {
  const chordless = followUps.chords.length > 0 && !backend.chords;
  return chordless ? [...followUps.unsupported, `a chord (${cannotKeepChords({ backend })})`] : followUps.unsupported;
}

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
  unfollowable(followUps, deps.backend).forEach(report);
  const chords = deps.backend.chords;
  if (chords) for (const { groupId, size } of followUps.chords) await chords.start(groupId, size);
  // Without chords, a chord's header tasks stay unsent: their body would never run.
  const send = chords ? followUps.send : followUps.send.filter((f) => f.chord === undefined);
  if (send.length > 0 && !deps.sendFollowUp) throw new CeleriacError('this driver cannot send tasks');
  for (const f of send) await deps.sendFollowUp?.(f);
}

export const cannotKeepChords = (deps: Pick<ExecutorDeps, 'backend'>): string =>
  `the result backend ${deps.backend.url} cannot keep chords: a chord counts its header's results in the result backend, so set result_backend (e.g. local://.celeriac or redis://localhost:6379/0)`;
