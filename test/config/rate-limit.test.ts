import { getEventListeners } from 'node:events';
import { describe, expect, it, vi } from 'vitest';
import { RateLimitError } from '../../core/errors.js';
import { parseRate, RateLimiter } from '../../core/rate-limit.js';

describe('parseRate', () => {
  it.each([
    ['10/s', 10],
    ['10/m', 10 / 60],
    ['10/h', 10 / 3600],
    ['10', 10],
    ['2.5/s', 2.5],
    ['.5/m', 0.5 / 60],
    [' 3/s ', 3],
    [7, 7],
    [0.5, 0.5],
  ])('%j → %d tokens per second', (rate, perSecond) => {
    expect(parseRate(rate)).toBeCloseTo(perSecond, 12);
  });

  it.each([[null], [undefined], [0], [''], ['0'], ['0/m']])('%j means no limit', (rate) => {
    expect(parseRate(rate)).toBeNull();
  });

  it.each([
    ['10/d'],
    ['ten/s'],
    ['10/S'],
    ['10/min'],
    ['-1/s'],
    ['10/'],
    ['/s'],
    ['1e3/s'],
    [-1],
    [Number.NaN],
    [Number.POSITIVE_INFINITY],
  ])('%j is a RateLimitError naming the accepted forms', (rate) => {
    expect(() => parseRate(rate)).toThrow(RateLimitError);
    expect(() => parseRate(rate)).toThrow(/'N\/s', 'N\/m' or 'N\/h'/);
  });
});

/** A clock that only moves when a taker sleeps, recording each wait. */
function fakeClock() {
  let now = 0;
  const waits: number[] = [];
  return {
    waits,
    advance: (ms: number) => {
      now += ms;
    },
    clock: {
      now: () => now,
      sleep: async (ms: number, signal: AbortSignal) => {
        signal.throwIfAborted();
        waits.push(ms);
        now += ms;
      },
    },
  };
}

describe('RateLimiter', () => {
  it('lets tasks without a limit through at once', async () => {
    const { clock, waits } = fakeClock();
    const limiter = new RateLimiter(clock);
    await limiter.take('tasks.add');
    expect(waits).toEqual([]);
    expect(limiter.get('tasks.add')).toBeNull();
  });

  it('spaces tasks evenly: 10/s lets one through now and each next after 100 ms', async () => {
    const { clock, waits } = fakeClock();
    const limiter = new RateLimiter(clock);
    limiter.set('tasks.add', '10/s');
    expect(limiter.get('tasks.add')).toBe(10);
    for (let i = 0; i < 4; i++) await limiter.take('tasks.add');
    expect(waits.map(Math.round)).toEqual([100, 100, 100]);
  });

  it('refills with time: after an idle period the next task starts at once, but no burst builds up', async () => {
    const fake = fakeClock();
    const limiter = new RateLimiter(fake.clock);
    limiter.set('t', '1/s');
    await limiter.take('t');
    fake.advance(5_000);
    await limiter.take('t');
    await limiter.take('t');
    expect(fake.waits.map(Math.round)).toEqual([1000]);
  });

  it('keeps separate buckets per task name', async () => {
    const { clock, waits } = fakeClock();
    const limiter = new RateLimiter(clock);
    limiter.set('a', '1/m');
    limiter.set('b', '1/m');
    await limiter.take('a');
    await limiter.take('b');
    expect(waits).toEqual([]);
    await limiter.take('a');
    expect(waits.map(Math.round)).toEqual([60_000]);
  });

  it('serves concurrent takers in turn, each waiting its own slot (real clock)', async () => {
    const limiter = new RateLimiter();
    limiter.set('t', '20/s');
    const started = performance.now();
    const done: number[] = [];
    await Promise.all([0, 1, 2, 3].map(() => limiter.take('t').then(() => done.push(performance.now() - started))));
    done.sort((a, b) => a - b);
    // Slots at 0, 50, 100, 150 ms; generous upper bounds for a noisy machine.
    expect(done[0]).toBeLessThan(40);
    expect(done[1]).toBeGreaterThanOrEqual(45);
    expect(done[3]).toBeGreaterThanOrEqual(145);
    expect(done[3]).toBeLessThan(1_500);
  });

  it('a new rate wakes waiting takers, which re-plan at the new rate (control rate_limit)', async () => {
    const limiter = new RateLimiter();
    limiter.set('t', '1/h');
    await limiter.take('t');
    const started = performance.now();
    const waiting = limiter.take('t');
    limiter.set('t', null);
    await waiting;
    expect(performance.now() - started).toBeLessThan(1_000);
    expect(limiter.get('t')).toBeNull();
  });

  it('a limit slower than a Node timer can wait (0.001/h: 1000 hours) still spaces tasks, on the default timer', async () => {
    vi.useFakeTimers();
    try {
      const limiter = new RateLimiter();
      limiter.set('t', '0.001/h');
      await limiter.take('t');
      let second = false;
      void limiter.take('t').then(() => (second = true));
      await vi.advanceTimersByTimeAsync(999 * 3600_000);
      expect(second).toBe(false);
      await vi.advanceTimersByTimeAsync(3600_000);
      expect(second).toBe(true);
    } finally {
      vi.useRealTimers();
    }
  });

  it('an aborted take rejects with the signal reason and gives its slot back', async () => {
    const limiter = new RateLimiter();
    limiter.set('t', '1/h');
    await limiter.take('t');
    const controller = new AbortController();
    const waiting = limiter.take('t', controller.signal);
    controller.abort(new Error('worker stopping'));
    await expect(waiting).rejects.toThrow('worker stopping');
  });

  it("waits under a long-lived signal (the worker's shutdown) leave nothing attached to it", async () => {
    const { clock, waits } = fakeClock();
    const limiter = new RateLimiter(clock);
    limiter.set('t', '1000/s');
    const shutdown = new AbortController();
    // AbortSignal.any's signals stay referenced by their sources for as long as these live (Node 20).
    const any = vi.spyOn(AbortSignal, 'any');
    for (let i = 0; i < 200; i++) await limiter.take('t', shutdown.signal);
    expect(waits).toHaveLength(199); // the waiting path ran
    expect(any).not.toHaveBeenCalled();
    expect(getEventListeners(shutdown.signal, 'abort')).toEqual([]);
    any.mockRestore();
  });

  it('refuses a bad rate', () => {
    expect(() => new RateLimiter().set('t', '5 per second')).toThrow(RateLimitError);
  });
});
