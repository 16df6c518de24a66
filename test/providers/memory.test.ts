import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { KeyValueResultBackend } from '../../core/kv-result-backend.js';
import { openBroker, openStore } from '../../core/registry.js';
import { memoryBroker, memoryStore } from '../../providers/memory/index.js';
import { backendConformance, brokerConformance, controlConformance, storeConformance, taskMessage } from '../conformance/index.js';

const fresh = () => `memory://${randomUUID()}`;

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
});
