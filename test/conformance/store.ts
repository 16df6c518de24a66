/** KeyValueStore conformance: the primitives a result store supplies (ports.ts). */
import { afterEach, describe, expect, it } from 'vitest';
import type { KeyValueStore } from '../../core/ports.js';
import { eventually, uniqueQueue } from './helpers.js';

export type MakeStore = () => Promise<KeyValueStore> | KeyValueStore;

/** What a store offers beyond the required primitives: cases for a missing feature are not defined. */
export interface StoreFeatures {
  /** Change notifications (pub/sub, in-process events). Without them waiting polls. Default true. */
  watch?: boolean;
  /** Chord parts without a group index (ordered last); dynamodb:// keeps parts by their index. Default true. */
  unindexedChordParts?: boolean;
}

export function storeConformance(name: string, make: MakeStore, features: StoreFeatures = {}): void {
  describe(`${name}: key-value store conformance`, () => {
    const open: KeyValueStore[] = [];
    const setup = async () => {
      const store = await make();
      open.push(store);
      return { store, key: uniqueQueue('key') };
    };
    afterEach(async () => {
      await Promise.all(open.splice(0).map((s) => s.close()));
    });

    it('reads back what was put, and nothing for an unknown key', async () => {
      const { store, key } = await setup();
      expect(await store.get(key)).toBeUndefined();
      expect(await store.put(key, '{"a":1}', { ready: false, keepReady: false })).toBe(true);
      expect(await store.get(key)).toBe('{"a":1}');
      await store.put(key, 'v2', { ready: false, keepReady: false });
      expect(await store.get(key)).toBe('v2');
    });

    it('a value with a ttl reads as gone once it has expired', async () => {
      const { store, key } = await setup();
      await store.put(key, 'short', { ttlMs: 150, ready: true, keepReady: false });
      expect(await store.get(key)).toBe('short');
      await eventually('expiry', async () => (await store.get(key)) === undefined, 3000);
    });

    it('keepReady does not overwrite a ready value, and says so', async () => {
      const { store, key } = await setup();
      await store.put(key, 'SUCCESS', { ready: true, keepReady: false });
      expect(await store.put(key, 'STARTED', { ready: false, keepReady: true })).toBe(false);
      expect(await store.get(key)).toBe('SUCCESS');
      expect(await store.put(key, 'FAILURE', { ready: true, keepReady: false })).toBe(true);
      expect(await store.get(key)).toBe('FAILURE');
    });

    it('keepSuccess does not overwrite a SUCCESS (a late duplicate failing), but writes over a FAILURE', async () => {
      const { store, key } = await setup();
      const result = { ready: true, keepReady: false, keepSuccess: true };
      await store.put(key, 'FAILURE', result);
      expect(await store.put(key, 'SUCCESS', { ...result, success: true })).toBe(true);
      expect(await store.put(key, 'FAILURE', result)).toBe(false);
      expect(await store.put(key, 'SUCCESS', { ...result, success: true })).toBe(false);
      expect(await store.get(key)).toBe('SUCCESS');
      const other = `${key}-x`;
      await store.put(other, 'SUCCESS', { ttlMs: 100, ready: true, success: true, keepReady: false });
      await eventually('expiry', async () => (await store.get(other)) === undefined, 3000);
      expect(await store.put(other, 'FAILURE', result)).toBe(true);
    });

    it('keepReady writes over a value that is not ready, or that expired', async () => {
      const { store, key } = await setup();
      await store.put(key, 'STARTED', { ready: false, keepReady: true });
      expect(await store.put(key, 'PROGRESS', { ready: false, keepReady: true })).toBe(true);
      expect(await store.get(key)).toBe('PROGRESS');
      const other = `${key}-x`;
      await store.put(other, 'SUCCESS', { ttlMs: 100, ready: true, keepReady: false });
      await eventually('expiry', async () => (await store.get(other)) === undefined, 3000);
      expect(await store.put(other, 'STARTED', { ready: false, keepReady: true })).toBe(true);
    });

    it('delete forgets a key', async () => {
      const { store, key } = await setup();
      await store.put(key, 'x', { ready: true, keepReady: false });
      await store.delete(key);
      expect(await store.get(key)).toBeUndefined();
      await store.delete(key);
    });

    it('incr counts atomically from zero, and its ttl expires the counter', async () => {
      const { store, key } = await setup();
      expect(await store.incr(key, 1)).toBe(1);
      const all = await Promise.all(Array.from({ length: 20 }, () => store.incr(key, 2)));
      expect(Math.max(...all)).toBe(41);
      expect(new Set(all).size).toBe(20);
      expect(await store.incr(key, -1)).toBe(40);
      const t = `${key}-t`;
      await store.incr(t, 5, 100);
      await eventually('counter expiry', async () => (await store.get(t)) === undefined, 3000);
      expect(await store.incr(t, 1)).toBe(1);
    });

    /** A chord's three keys, laid out as Celery's Redis backend lays them out. */
    const chordKeysOf = (key: string) => ({ parts: `${key}.j`, size: `${key}.s`, extra: `${key}.t` });
    /** A header task's part as Celery's Redis backend writes it: [1, id, state, result]. */
    const part = (taskId: string, score: number | null, result: unknown = taskId) => ({
      taskId,
      member: JSON.stringify([1, taskId, 'SUCCESS', result]),
      score,
    });

    it('addChordPart completes a chord exactly once, with its parts in header order (no index last, where a store keeps such parts)', async () => {
      const { store, key } = await setup();
      const keys = chordKeysOf(key);
      await store.put(keys.size, '4', { ready: false, keepReady: false });
      expect(await store.addChordPart(keys, part('c', 2))).toBeUndefined();
      // The last three at once, as workers finishing together: one of them sees the chord complete.
      const unindexed = features.unindexedChordParts !== false;
      const last = await Promise.all([
        store.addChordPart(keys, part('z', unindexed ? null : 3)),
        store.addChordPart(keys, part('b', 1)),
        store.addChordPart(keys, part('a', 0)),
      ]);
      expect(last.filter((parts) => parts !== undefined)).toEqual([['a', 'b', 'c', 'z'].map((id) => part(id, 0).member)]);
    });

    it('addChordPart keeps one part per task: a task run again, even with another result, neither counts twice nor replaces its first part', async () => {
      const { store, key } = await setup();
      const keys = chordKeysOf(key);
      await store.put(keys.size, '2', { ready: false, keepReady: false });
      expect(await store.addChordPart(keys, part('a', 0, 'first run'))).toBeUndefined();
      expect(await store.addChordPart(keys, part('a', 0, 'second run'))).toBeUndefined();
      expect(await store.addChordPart(keys, part('b', 1))).toEqual([part('a', 0, 'first run').member, part('b', 1).member]);
    });

    it('addChordPart counts the size adjustment, never completes a chord whose size is unknown, and expires with its ttl', async () => {
      const { store, key } = await setup();
      const keys = chordKeysOf(key);
      await store.put(keys.size, '1', { ready: false, keepReady: false });
      await store.incr(keys.extra, 1);
      expect(await store.addChordPart(keys, part('first', 0), 60_000)).toBeUndefined();
      expect(await store.addChordPart(keys, part('second', 1), 60_000)).toEqual([part('first', 0).member, part('second', 1).member]);

      const unknown = chordKeysOf(`${key}-unknown`);
      expect(await store.addChordPart(unknown, part('only', 0))).toBeUndefined();

      const short = chordKeysOf(`${key}-short`);
      await store.put(short.size, '2', { ready: false, keepReady: false });
      await store.addChordPart(short, part('early', 0), 100);
      await eventually('the parts to expire', async () => (await store.get(short.size)) === undefined, 3000);
      await store.put(short.size, '2', { ready: false, keepReady: false });
      expect(await store.addChordPart(short, part('late', 1))).toBeUndefined();
    });

    if (features.watch !== false) {
      it('watch calls back on a write to the key, and stops after unsubscribing', async () => {
        const { store, key } = await setup();
        if (!store.watch) throw new Error(`${name} declares watch but its store has no watch()`);
        let calls = 0;
        const unwatch = await store.watch(key, () => calls++);
        await store.put(`${key}-other`, 'x', { ready: false, keepReady: false });
        await store.put(key, 'x', { ready: false, keepReady: false });
        await eventually('the watch callback', () => calls === 1);
        await unwatch();
        await store.put(key, 'y', { ready: false, keepReady: false });
        // A write that does notify, on a second watch, proves the first would have been called by now.
        let probe = 0;
        const unprobe = await store.watch(key, () => probe++);
        await store.put(key, 'z', { ready: false, keepReady: false });
        await eventually('the probe callback', () => probe === 1);
        await unprobe();
        expect(calls).toBe(1);
      });

      it('a write made before watch() resolves is reported, or seen by a get() made after the watch call; a passed value is the written one', async () => {
        const { store, key } = await setup();
        if (!store.watch) throw new Error(`${name} declares watch but its store has no watch()`);
        let reported = false;
        let passed: string | undefined;
        // No await between the three calls: the write races the subscription, as a worker's result races get().
        const watching = store.watch(key, (value) => {
          reported = true;
          passed ??= value;
        });
        const written = store.put(key, 'early', { ready: true, keepReady: false });
        const read = store.get(key);
        const [unwatch, , value] = await Promise.all([watching, written, read]);
        await eventually('the write reported or read', () => reported || value === 'early');
        if (passed !== undefined) expect(passed).toBe('early');
        await unwatch();
      });
    }
  });
}
