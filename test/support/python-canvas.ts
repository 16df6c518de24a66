/**
 * Canvas messages as a Python Celery client publishes them (celery-protocol.md §1.2): the first
 * task of a chain, a linked task, a chord header task — for tests of a worker following them.
 */
import type { App } from '../../core/app.js';
import type { TaskEmbed, TaskMessage } from '../../core/message.js';
import { buildTaskMessage } from '../../core/message-builder.js';

/** A signature dict as it travels in an embed. */
export const sig = (task: string, args: unknown[], options: Record<string, unknown> = {}, immutable = false) => ({
  task,
  args,
  kwargs: {},
  options,
  subtask_type: null,
  immutable,
});

/**
 * Publish `name(args)` with `embed` (and header fields such as group, group_index); resolves with
 * its id. An embed given as JSON text goes into the body as it is (nesting JSON.stringify refuses).
 */
export async function publishFromPython(
  app: App,
  name: string,
  args: unknown[],
  embed: Partial<TaskEmbed> | string,
  headers: Partial<TaskMessage['headers']> = {},
): Promise<string> {
  const message = buildTaskMessage({
    name,
    args,
    kwargs: {},
    queue: 'celery',
    call: {},
    task: {},
    defaults: { ignoreResult: false, priority: null, timeLimit: null, softTimeLimit: null },
    embed: typeof embed === 'string' ? undefined : { callbacks: null, errbacks: null, chain: null, chord: null, ...embed },
    replyTo: 'python-client',
  });
  if (typeof embed === 'string') message.body = `[${JSON.stringify(args)}, {}, ${embed}]`;
  Object.assign(message.headers, headers);
  await (await app.broker()).publish('celery', [message]);
  return message.headers.id;
}

/** Make the app's follow-up sends fail `times` times with `error` (by default: the broker unreachable), then go through. */
export function refuseFollowUps(app: App, times: number, error: () => Error = () => new Error('broker unreachable')): void {
  const send = app.sendFollowUp.bind(app);
  let refusals = times;
  app.sendFollowUp = async (f) => {
    if (refusals-- > 0) throw error();
    return send(f);
  };
}
