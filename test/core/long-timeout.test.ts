/** setLongTimeout: delays beyond Node's 2^31−1 ms timer limit fire when due, not after 1 ms. */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { setLongTimeout } from '../../core/long-timeout.js';

afterEach(() => {
  vi.useRealTimers();
});

describe('setLongTimeout', () => {
  it('waits a 60-day delay out in steps and fires once, when due', () => {
    vi.useFakeTimers();
    const fired = vi.fn();
    const days60 = 60 * 24 * 3600 * 1000;
    setLongTimeout(fired, days60);
    vi.advanceTimersByTime(1000);
    expect(fired).not.toHaveBeenCalled();
    vi.advanceTimersByTime(days60 - 1001);
    expect(fired).not.toHaveBeenCalled();
    vi.advanceTimersByTime(1);
    expect(fired).toHaveBeenCalledTimes(1);
    vi.advanceTimersByTime(days60);
    expect(fired).toHaveBeenCalledTimes(1);
  });

  it('clear() stops it in any step', () => {
    vi.useFakeTimers();
    const fired = vi.fn();
    const timer = setLongTimeout(fired, 2 ** 32);
    vi.advanceTimersByTime(2 ** 31 + 5); // into the second step
    timer.clear();
    vi.advanceTimersByTime(2 ** 33);
    expect(fired).not.toHaveBeenCalled();
  });

  it('a short delay is a plain timer', () => {
    vi.useFakeTimers();
    const fired = vi.fn();
    setLongTimeout(fired, 50);
    vi.advanceTimersByTime(49);
    expect(fired).not.toHaveBeenCalled();
    vi.advanceTimersByTime(1);
    expect(fired).toHaveBeenCalledTimes(1);
  });
});
