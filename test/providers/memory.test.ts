import { randomUUID } from 'node:crypto';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { KeyValueResultBackend } from '../../core/kv-result-backend.js';
import { openBroker, openStore } from '../../core/registry.js';
import { memoryBroker, memoryStore } from '../../providers/memory/index.js';
import { MemoryQueues } from '../../providers/memory/queues.js';
import { MemoryStore, MemoryStoreData } from '../../providers/memory/store.js';
import { backendConformance, brokerConformance, controlConformance, storeConformance, taskMessage } from '../conformance/index.js';

const fresh = () => `memory://${randomUUID()}`;

/** A full garbage collection, without starting node with --expose-gc. */
async function collectGarbage(): Promise<void> {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  // A WeakRef made in this job keeps its target alive until the job ends.
  await new Promise((resolve) => setTimeout(resolve, 0));
  gc();
}

brokerConformance('memory', ({ visibilityTimeoutMs }) => {
  const broker = memoryBroker(`${fresh()}?visibility_timeout=${visibilityTimeoutMs / 1000}`);
  return {
    broker,
    publishRaw: (queue, raw) => broker.publishRaw(queue, [{ body: raw }]),
    close: () => broker.close(),
  };
});
storeConformance('memory', () => memoryStore(fresh()));
backendConformance('memory', ({ resultExpires }) => new KeyValueResultBackend(memoryStore(fresh()), { resultExpires }));
describe('memory control', () => {
  // One URL per file run: channels made in one test must share state.
  const url = fresh();
  controlConformance('memory', async () => {
    const broker = memoryBroker(url);
    return { channel: broker.control, close: () => broker.close() };
  });
});

describe('memory provider', () => {
  it('brokers opened through the registry on the same URL share their queues', async () => {
    const url = fresh();
    const ctx = { transportOptions: {} };
    const producer = await openBroker(url, ctx);
    const worker = await openBroker(url, ctx);
    await producer.publish('celery', [taskMessage('celery', [1])]);
    expect(await worker.size?.('celery')).toBe(1);
    const store = await openStore(url, ctx);
    await store.put('k', 'v', { ready: false, keepReady: false });
    expect(await (await openStore(url, ctx)).get('k')).toBe('v');
  });

  it('reads the visibility timeout from transport options, the URL winning', () => {
    expect(memoryBroker(fresh()).visibilityTimeoutMs).toBe(3_600_000);
    expect(memoryBroker(fresh(), { transportOptions: { visibility_timeout: 30 } }).visibilityTimeoutMs).toBe(30_000);
    expect(memoryBroker(`${fresh()}?visibility_timeout=5`, { transportOptions: { visibility_timeout: 30 } }).visibilityTimeoutMs).toBe(
      5_000,
    );
    expect(() => memoryBroker(`${fresh()}?visiblity_timeout=5`)).toThrow(/Unknown option 'visiblity_timeout'.*visibility_timeout/);
    expect(() => memoryBroker(fresh(), { transportOptions: { visibility_timeout: 'soon' } })).toThrow(/positive number of seconds/);
  });

  it('frees an acked message at once, not after its visibility timeout', async () => {
    const queues = new MemoryQueues();
    const now = Date.now();
    for (let i = 0; i < 1000; i++) queues.add('celery', `message ${i}`, 0, now, now);
    const leased = queues.lease(['celery'], 1000, now, 3_600_000);
    const refs = leased.map((entry) => new WeakRef(entry));
    for (const entry of leased.splice(0)) queues.remove(entry);
    await collectGarbage();
    // A few may wait for the next compaction of the lease heap, without their payload; a thousand may not.
    const held = refs.flatMap((ref) => ref.deref() ?? []);
    expect(held.length).toBeLessThan(100);
    expect(held.map((entry) => entry.raw).join('')).toBe('');
  });

  it('deletes expired results that nobody reads again', async () => {
    const data = new MemoryStoreData();
    const store = new MemoryStore(fresh(), data);
    for (let i = 0; i < 100; i++) await store.put(`expiring ${i}`, 'v', { ttlMs: 1, ready: true, keepReady: false });
    await store.put('kept', 'v', { ready: true, keepReady: false });
    await store.incr('counter', 1, 60_000);
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect([...data.rows.keys()].sort()).toEqual(['counter', 'kept']);
  });
});
