import { describe, expect, it } from 'vitest';
import { retryCountdownMs } from '../../core/retry-policy.js';

describe('retryCountdownMs', () => {
  it('uses an explicit countdown first', () => {
    expect(retryCountdownMs({ retries: 3, countdown: 2, options: { retryBackoff: true, defaultRetryDelay: 9 } })).toBe(2000);
    expect(retryCountdownMs({ retries: 0, countdown: 0, options: {} })).toBe(0);
  });

  it('defaults to default_retry_delay: 180 s, or the task option', () => {
    expect(retryCountdownMs({ retries: 0, options: {} })).toBe(180_000);
    expect(retryCountdownMs({ retries: 5, options: { defaultRetryDelay: 3 } })).toBe(3000);
  });

  it('backs off exponentially: factor · 2^retries seconds, without jitter', () => {
    const at = (retries: number, retryBackoff: boolean | number) =>
      retryCountdownMs({ retries, options: { retryBackoff, retryJitter: false } });
    expect([0, 1, 2, 3].map((r) => at(r, true))).toEqual([1000, 2000, 4000, 8000]);
    expect([0, 1, 2].map((r) => at(r, 3))).toEqual([3000, 6000, 12000]);
    expect(at(2, 0.01)).toBe(40);
  });

  it('caps backoff at retryBackoffMax, 600 s by default', () => {
    expect(retryCountdownMs({ retries: 20, options: { retryBackoff: true, retryJitter: false } })).toBe(600_000);
    expect(retryCountdownMs({ retries: 20, options: { retryBackoff: true, retryJitter: false, retryBackoffMax: 5 } })).toBe(5000);
  });

  it('jitters by default: a uniform draw in [0, countdown]', () => {
    const options = { retryBackoff: true, retryBackoffMax: 10 };
    expect(retryCountdownMs({ retries: 3, options, random: () => 0 })).toBe(0);
    expect(retryCountdownMs({ retries: 3, options, random: () => 0.5 })).toBe(4000);
    expect(retryCountdownMs({ retries: 5, options, random: () => 0.999 })).toBe(9990);
    for (let i = 0; i < 50; i++) {
      const ms = retryCountdownMs({ retries: 2, options });
      expect(ms).toBeGreaterThanOrEqual(0);
      expect(ms).toBeLessThanOrEqual(4000);
    }
  });
});
