import { describe, expect, it } from 'vitest';
import { backoffSeconds, retryCountdownMs } from '../../core/retry-policy.js';

describe("retryCountdownMs (a task's retry())", () => {
  it('uses an explicit countdown first', () => {
    expect(retryCountdownMs({ countdown: 2, options: { retryBackoff: true, defaultRetryDelay: 9 } })).toBe(2000);
    expect(retryCountdownMs({ countdown: 0, options: {} })).toBe(0);
  });

  it("defaults to default_retry_delay: 180 s, or the task option, with retryBackoff too (backoff is autoretry's, as in Celery)", () => {
    expect(retryCountdownMs({ options: {} })).toBe(180_000);
    expect(retryCountdownMs({ options: { defaultRetryDelay: 3 } })).toBe(3000);
    expect(retryCountdownMs({ options: { retryBackoff: true } })).toBe(180_000);
  });
});

describe('backoffSeconds (autoretryFor)', () => {
  it('is none without retryBackoff', () => {
    expect(backoffSeconds({ retries: 2, options: {} })).toBeUndefined();
  });

  it('backs off exponentially: factor · 2^retries seconds, without jitter', () => {
    const at = (retries: number, retryBackoff: boolean | number) =>
      backoffSeconds({ retries, options: { retryBackoff, retryJitter: false } });
    expect([0, 1, 2, 3].map((r) => at(r, true))).toEqual([1, 2, 4, 8]);
    expect([0, 1, 2].map((r) => at(r, 3))).toEqual([3, 6, 12]);
    expect(at(2, 0.01)).toBe(0.04);
  });

  it('caps backoff at retryBackoffMax, 600 s by default', () => {
    expect(backoffSeconds({ retries: 20, options: { retryBackoff: true, retryJitter: false } })).toBe(600);
    expect(backoffSeconds({ retries: 20, options: { retryBackoff: true, retryJitter: false, retryBackoffMax: 5 } })).toBe(5);
  });

  it('jitters by default: a uniform draw in [0, countdown]', () => {
    const options = { retryBackoff: true, retryBackoffMax: 10 };
    expect(backoffSeconds({ retries: 3, options, random: () => 0 })).toBe(0);
    expect(backoffSeconds({ retries: 3, options, random: () => 0.5 })).toBe(4);
    expect(backoffSeconds({ retries: 5, options, random: () => 0.999 })).toBe(9.99);
    for (let i = 0; i < 50; i++) {
      const s = backoffSeconds({ retries: 2, options }) as number;
      expect(s).toBeGreaterThanOrEqual(0);
      expect(s).toBeLessThanOrEqual(4);
    }
  });
});
