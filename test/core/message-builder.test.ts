/** The message a call produces carries every header and property Celery 5.2.6 sends (§1.1, §1.3). */
import { describe, expect, it } from 'vitest';
import { decodeException, encodeException } from '../../core/exception-codec.js';
import { CeleriacError, NotRegistered, RemoteTaskError, TaskRevokedError, TimeLimitExceeded, TimeoutError } from '../../core/errors.js';
import type { ExceptionInfo } from '../../core/result-meta.js';
import { buildTaskMessage } from '../../core/message-builder.js';
import { argsRepr } from '../../core/repr.js';

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

  it('writes the argsrepr of args nested deeper than the stack goes, cut at 1024 characters as any other', () => {
    let nested: unknown = [];
    for (let i = 0; i < 100_000; i++) nested = [nested];
    expect(argsRepr([nested])).toBe(`(${'['.repeat(1020)}...`);
    expect(argsRepr([[[1], { a: [2] }]])).toBe("([[1], {'a': [2]}],)");
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
    expect(err).toBeInstanceOf(RemoteTaskError);
    expect(err).not.toBeInstanceOf(CeleriacError);
    // A subclass of RemoteTaskError answers instanceof by its own prototype, not by every remote failure.
    class AppError extends RemoteTaskError {}
    expect(err).not.toBeInstanceOf(AppError);
    expect(new AppError('AppError', 'mine')).toBeInstanceOf(AppError);
  });

  it("decodes Celery's own failures into celeriac's classes of the same name, keeping the stored meta", () => {
    const decode = (result: ExceptionInfo) => decodeException({ task_id: 'i', traceback: 'Traceback (most recent call last)...', result });
    const limit = decode({ exc_type: 'TimeLimitExceeded', exc_message: [300.0], exc_module: 'billiard.exceptions' });
    expect(limit).toBeInstanceOf(TimeLimitExceeded);
    expect(limit).toBeInstanceOf(RemoteTaskError);
    expect([limit.name, limit.message, (limit as unknown as TimeLimitExceeded).seconds]).toEqual([
      'TimeLimitExceeded',
      'Task exceeded its hard time limit of 300s',
      300,
    ]);
    expect([limit.excType, limit.excModule, limit.excArgs, limit.remoteTraceback, limit.taskId]).toEqual([
      'TimeLimitExceeded',
      'billiard.exceptions',
      [300],
      'Traceback (most recent call last)...',
      'i',
    ]);
    expect(limit.stack).toContain('[remote traceback]');
    const unknown = decode({ exc_type: 'NotRegistered', exc_message: ['tasks.nope'], exc_module: 'celery.exceptions' });
    expect(unknown).toBeInstanceOf(NotRegistered);
    expect((unknown as unknown as NotRegistered).taskName).toBe('tasks.nope');
    const revoked = decode({ exc_type: 'TaskRevokedError', exc_message: ['terminated'], exc_module: 'celery.exceptions' });
    expect(revoked).toBeInstanceOf(TaskRevokedError);
    expect(revoked.message).toBe('Task terminated');
    // Re-encoded (a chord's errback, a Python client reading it again) it is what was stored.
    expect(encodeException(limit).info).toEqual({ exc_type: 'TimeLimitExceeded', exc_message: [300], exc_module: 'billiard.exceptions' });
    // Python's builtins.TimeoutError, or a task's own error class named like one of celeriac's, is not celeriac's.
    expect(decode({ exc_type: 'TimeoutError', exc_message: ['slow'], exc_module: 'builtins' })).not.toBeInstanceOf(TimeoutError);
    // Nor Celery's (a task whose own get() timed out): instanceof TimeoutError stays "my get() timed out".
    expect(
      decode({ exc_type: 'TimeoutError', exc_message: ['The operation timed out.'], exc_module: 'celery.exceptions' }),
    ).not.toBeInstanceOf(TimeoutError);
    expect(decode({ exc_type: 'ConfigError', exc_message: ['mine'], exc_module: 'celeriac' })).not.toBeInstanceOf(CeleriacError);
  });
});
