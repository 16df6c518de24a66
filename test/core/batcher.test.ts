/** core/batcher.ts: operations of one tick flushed together, and drain() as closing relies on it. */
import { describe, expect, it } from 'vitest';
import { Batcher } from '../../core/batcher.js';
import { gate } from './helpers.js';

describe('Batcher', () => {
  it('flushes what one tick queued as one batch', async () => {
    const batches: number[][] = [];
    const batcher = new Batcher<number, number>((items) => {
      batches.push(items);
      return items.map((n) => n * 2);
    });
    expect(await Promise.all([batcher.add(1), batcher.add(2), batcher.add(3)])).toEqual([2, 4, 6]);
    expect(batches).toEqual([[1, 2, 3]]);
  });

  it('drain() waits for a batch queued while another was being flushed', async () => {
    const flushed: string[] = [];
    const [firstRunning, firstHeld, secondHeld] = [gate(), gate(), gate()];
    const batcher = new Batcher<string, void>(async (items) => {
      if (items.includes('A')) {
        firstRunning.open();
        await firstHeld.wait;
      } else {
        await secondHeld.wait;
      }
      flushed.push(...items);
      return items.map(() => undefined);
    });
    const a = batcher.add('A');
    await firstRunning.wait;
    const b = batcher.add('B');
    // B's flush starts while A's is still under way; A then ends first.
    await new Promise((resolve) => setImmediate(resolve));
    firstHeld.open();
    await a;
    let drained = false;
    const draining = batcher.drain().then(() => {
      drained = true;
    });
    await new Promise((resolve) => setImmediate(resolve));
    expect(drained).toBe(false);
    secondHeld.open();
    await Promise.all([b, draining]);
    expect(flushed).toEqual(['A', 'B']);
  });
});
