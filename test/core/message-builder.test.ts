/** The message a call produces carries every header and property Celery 5.2.6 sends (§1.1, §1.3). */
import { describe, expect, it } from 'vitest';
import { decodeException, encodeException } from '../../core/exception-codec.js';
import { NotRegistered, TimeLimitExceeded } from '../../core/errors.js';
import { buildTaskMessage } from '../../core/message-builder.js';

const now = Date.parse('2026-11-25T10:00:00.000Z');
const defaults = { ignoreResult: false, priority: null, timeLimit: null, softTimeLimit: null };

describe('message builder', () => {
  it('builds protocol v2 headers, properties and body as Celery sends them', () => {
    const m = buildTaskMessage({
      name: 'tasks.add',
      args: [4, 'x'],
      kwargs: { k: true },
      queue: 'math',
      call: { countdown: 2, expires: 60, priority: 5, taskId: 'id-1' },
      task: { timeLimit: 30, softTimeLimit: 10 },
      defaults,
      replyTo: 'oid',
      now,
    });
    expect(Object.keys(m.headers).sort()).toEqual(
      [
        'lang',
        'task',
        'id',
        'shadow',
        'eta',
        'expires',
        'group',
        'group_index',
        'retries',
        'timelimit',
        'root_id',
        'parent_id',
        'argsrepr',
        'kwargsrepr',
        'origin',
        'ignore_result',
      ].sort(),
    );
    expect(m.headers).toMatchObject({
      task: 'tasks.add',
      id: 'id-1',
      root_id: 'id-1',
      parent_id: null,
      eta: '2026-11-25T10:00:02.000000+00:00',
      expires: '2026-11-25T10:01:00.000000+00:00',
      timelimit: [30, 10],
      retries: 0,
      argsrepr: "(4, 'x')",
      kwargsrepr: "{'k': True}",
      ignore_result: false,
    });
    expect(m.headers.origin).toMatch(/^gen\d+@/);
    expect(m.properties).toEqual({ correlation_id: 'id-1', reply_to: 'oid', delivery_mode: 2, priority: 5, expiration: '60000' });
    expect(JSON.parse(m.body)).toEqual([[4, 'x'], { k: true }, { callbacks: null, errbacks: null, chain: null, chord: null }]);
    expect(m.contentType).toBe('application/json');
  });

  it('refuses a value JSON cannot carry, naming where it is', () => {
    expect(() =>
      buildTaskMessage({ name: 't', args: [1, { when: 10n }], kwargs: {}, queue: 'q', call: {}, task: {}, defaults, replyTo: 'o' }),
    ).toThrow(/args\[1\]\.when/);
  });
});

describe('exception codec', () => {
  it("keeps Celery's names and arguments for its own errors", () => {
    expect(encodeException(new NotRegistered('tasks.x')).info).toEqual({
      exc_type: 'NotRegistered',
      exc_message: ['tasks.x'],
      exc_module: 'celery.exceptions',
    });
    expect(encodeException(new TimeLimitExceeded(2)).info).toEqual({
      exc_type: 'TimeLimitExceeded',
      exc_message: [2],
      exc_module: 'billiard.exceptions',
    });
  });

  it('decodes a Python failure into an error named after its type', () => {
    const err = decodeException({
      task_id: 'i',
      traceback: 'Traceback...',
      result: { exc_type: 'ValueError', exc_message: ['bad', 42], exc_module: 'builtins' },
    });
    expect(err.name).toBe('ValueError');
    expect(err.excArgs).toEqual(['bad', 42]);
    expect(err.remoteTraceback).toBe('Traceback...');
  });
});
