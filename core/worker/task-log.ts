/** The worker's log line per task event, worded as Celery's worker prints them. */
import type { ExecutorEvent } from '../executor.js';
import type { LogLevel, Logger } from '../log.js';
import { errorRepr, pyRepr } from '../repr.js';

export function logTaskEvent(log: Logger, e: ExecutorEvent): void {
  const [level, line] = taskLine(e);
  log[level](line);
}

function taskLine(e: ExecutorEvent): [LogLevel, string] {
  const task = e.name ? `${e.name}[${e.id}]` : e.id ? `[${e.id}]` : 'message';
  switch (e.type) {
    case 'received':
      return ['info', `Task ${task} received`];
    case 'succeeded':
      return ['info', `Task ${task} succeeded in ${Number((e.runtimeMs / 1000).toFixed(6))}s: ${pyRepr(e.result)}`];
    case 'failed':
      return ['error', `Task ${task} raised unexpected: ${errorRepr(e.error)}${e.traceback ? `\n${e.traceback}` : ''}`];
    case 'retried':
      return ['info', `Task ${task} retry: ${e.retry.message}`];
    case 'revoked':
      return ['info', `Discarding ${e.reason} task: ${task}`];
    case 'rejected':
      return ['error', `Dead-lettered ${task}: ${e.reason}`];
    case 'internal-error':
      return ['error', `Error ${e.during} for ${task}: ${errorRepr(e.error)}`];
    case 'deferred':
      return ['debug', `Task ${task} is scheduled: handed back for ${Math.ceil(e.delayMs / 1000)}s`];
    case 'handed-back':
      return ['debug', `Task ${task} handed back: the worker is stopping`];
    case 'started':
      return ['debug', `Task ${task} started`];
  }
}
