import { describe, expect, it } from 'vitest';
import { annotationsFor, checkAnnotations, normalizeTaskOptions, type TaskAnnotations } from '../../core/annotations.js';
import { ConfigError } from '../../core/errors.js';

const forTask = (name: string, task_annotations: TaskAnnotations | null) => annotationsFor(name, { task_annotations });

describe('annotationsFor (task_annotations)', () => {
  it('gives nothing without annotations', () => {
    expect(forTask('tasks.add', null)).toEqual({});
  });

  it("maps Celery's snake_case attributes to task options, per task", () => {
    const annotations = {
      'tasks.add': {
        rate_limit: '10/s',
        max_retries: 5,
        time_limit: 30,
        soft_time_limit: 20,
        default_retry_delay: 1,
        acks_late: false,
        ignore_result: true,
        track_started: true,
      },
    };
    expect(forTask('tasks.add', annotations)).toEqual({
      rateLimit: '10/s',
      maxRetries: 5,
      timeLimit: 30,
      softTimeLimit: 20,
      defaultRetryDelay: 1,
      acksLate: false,
      ignoreResult: true,
      trackStarted: true,
    });
    expect(forTask('tasks.mul', annotations)).toEqual({});
  });

  it("applies '*' to every task, over a per-task entry (as Celery 5.2: '*' is applied last)", () => {
    const annotations = { '*': { rate_limit: '1/m', max_retries: 1 }, 'tasks.add': { rate_limit: '10/s', time_limit: 5 } };
    expect(forTask('tasks.mul', annotations)).toEqual({ rateLimit: '1/m', maxRetries: 1 });
    expect(forTask('tasks.add', annotations)).toEqual({ rateLimit: '1/m', maxRetries: 1, timeLimit: 5 });
  });

  it('accepts camelCase option names too', () => {
    expect(forTask('t', { t: { rateLimit: 5, retryBackoff: true } })).toEqual({ rateLimit: 5, retryBackoff: true });
  });

  it('takes a function of the task name, and a list where the first match wins', () => {
    const annotations: TaskAnnotations = [
      (name) => (name.startsWith('io.') ? { time_limit: 60 } : undefined),
      { 'io.fetch': { time_limit: 1 }, '*': { priority: 3 } },
      { '*': { priority: 9 } },
    ];
    expect(forTask('io.fetch', annotations)).toEqual({ timeLimit: 60, priority: 3 });
    expect(forTask('cpu.hash', annotations)).toEqual({ priority: 3 });
  });

  it('an unknown attribute is a ConfigError naming the closest one', () => {
    expect(() => forTask('t', { t: { rate_limt: '1/s' } })).toThrow(ConfigError);
    expect(() => forTask('t', { t: { rate_limt: '1/s' } })).toThrow(/'rate_limt' is not a task option\. Did you mean 'rate_limit'\?/);
    expect(() => forTask('t', () => ({ max_retry: 3 }))).toThrow(/Did you mean 'max_retries'\?/);
  });

  it('a bad value is a ConfigError naming where it is', () => {
    expect(() => forTask('t', { '*': { rate_limit: 'fast' } })).toThrow(/task_annotations\['\*'\]: rate_limit: Invalid rate limit 'fast'/);
    expect(() => forTask('t', { t: { max_retries: -1 } })).toThrow(/max_retries/);
    expect(() => forTask('t', { t: { priority: 10 } })).toThrow(/priority 0-9/);
  });

  it('normalizeTaskOptions refuses non-objects', () => {
    expect(() => normalizeTaskOptions('10/s' as never, 'x')).toThrow(/x must be an object/);
  });

  it('checkAnnotations finds problems before any task is sent', () => {
    expect(checkAnnotations({ '*': { rate_limit: '1/s' } })).toBeNull();
    expect(checkAnnotations([() => null, { t: { acks_lat: true } }])).toContain("task_annotations[1]['t']");
    expect(checkAnnotations(5)).toContain('must be');
  });
});
