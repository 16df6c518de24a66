/** The worker's log line per task event, worded as Celery's worker prints them. */
import type { ExecutorEvent } from '../executor.js';
import { STOPPING, shownName } from '../executor/types.js';
import { type LogLevel, type Logger, logs } from '../log.js';
import { errorRepr, resultRepr } from '../repr.js';

export function logTaskEvent(log: Logger, e: ExecutorEvent): void {
  // Below the logger's level the line (a repr of the result) is not even built.
  // A hand-back at shutdown is routine; one for want of time (a function invocation) is worth seeing.
  const level = e.type === 'handed-back' && e.reason === STOPPING ? 'debug' : LEVELS[e.type];
  if (!logs(log, level)) return;
  log[level](taskLine(e));
}

const LEVELS: Record<ExecutorEvent['type'], LogLevel> = {
  received: 'info',
  started: 'debug',
  succeeded: 'info',
  failed: 'error',
  retried: 'info',
  revoked: 'info',
  rejected: 'error',
  'internal-error': 'error',
  deferred: 'debug',
  'handed-back': 'warning',
  duplicate: 'warning',
};

function taskLine(e: ExecutorEvent): string {
  // Shown under its shadow name when its sender set one, as Celery's worker logs it.
  const name = shownName(e);
  const task = name ? `${name}[${e.id}]` : e.id ? `[${e.id}]` : 'message';
  switch (e.type) {
    case 'received':
      return `Task ${task} received`;
    case 'succeeded':
      return `Task ${task} succeeded in ${Number((e.runtimeMs / 1000).toFixed(6))}s: ${resultRepr(e.result)}`;
    case 'failed':
      return `Task ${task} raised unexpected: ${errorRepr(e.error)}${e.traceback ? `\n${e.traceback}` : ''}`;
    case 'retried':
      return `Task ${task} retry: ${e.retry.message}`;
    case 'revoked':
      return `Discarding ${e.reason} task: ${task}`;
    case 'rejected':
      return `Dead-lettered ${task}: ${e.reason}`;
    case 'internal-error':
      return `Error ${e.during} for ${task}: ${errorRepr(e.error)}`;
    case 'deferred':
      return `Task ${task} is scheduled: handed back for ${Math.ceil(e.delayMs / 1000)}s`;
    case 'handed-back':
      return `Task ${task} handed back${e.delayMs > 0 ? ` for ${Math.ceil(e.delayMs / 1000)}s` : ''}: ${e.reason}`;
    case 'started':
      return `Task ${task} started`;
    case 'duplicate':
      return `Task ${task} came back after it succeeded (its ack was lost, or its lease: a worker's event loop blocked past the visibility timeout): acked without running it again`;
  }
}
