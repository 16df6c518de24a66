/**
 * Consumer processes running test/fixtures/providers/consumer-child.ts, and the hand-over the
 * redis:// and local:// suites both prove with them: a consumer SIGKILLed while holding a message
 * loses nothing; a second consumer (the heir) receives it with receiveCount 2 and runs it to
 * completion exactly once.
 */
import { expect } from 'vitest';
import { KeyValueResultBackend } from '../../core/kv-result-backend.js';
import type { Broker, KeyValueStore } from '../../core/ports.js';
import { eventually, taskMessage, uniqueQueue } from '../conformance/index.js';
import { type ChildScript, useChildScript } from './child-script.js';

/** Returns `startConsumer(brokerUrl, storeUrl, queue, 'hold' | 'ack')`. Call inside a describe block. */
export function useConsumerChild(): ChildScript {
  return useChildScript('test/fixtures/providers/consumer-child.ts', 'consumer-child.mjs');
}

export interface HandOverSetup {
  /** A broker URL whose settings bring a held message back soon after its holder dies. */
  brokerUrl: string;
  storeUrl: string;
  /** Open this process's own handles on the same provider, to publish and to watch the queue and the result. */
  openBroker(url: string): Broker & Required<Pick<Broker, 'size'>>;
  openStore(url: string): KeyValueStore;
}

export async function expectHeirRunsKilledConsumersMessageOnce(startConsumer: ChildScript, setup: HandOverSetup): Promise<void> {
  const { brokerUrl, storeUrl } = setup;
  const broker = setup.openBroker(brokerUrl);
  const backend = new KeyValueResultBackend(setup.openStore(storeUrl));
  try {
    const q = uniqueQueue('killed');
    const m = taskMessage(q, ['survives']);
    const id = m.headers.id;
    await broker.publish(q, [m]);

    const doomed = startConsumer(brokerUrl, storeUrl, q, 'hold');
    const first = await doomed.wait('the first delivery', (e) => e.event === 'delivery' && e.id === id);
    expect(first.receiveCount).toBe(1);
    doomed.proc.kill('SIGKILL');
    await doomed.killed();

    const heir = startConsumer(brokerUrl, storeUrl, q, 'ack');
    const again = await heir.wait('the redelivery', (e) => e.event === 'delivery' && e.id === id);
    expect(again.receiveCount).toBe(2);
    const meta = await backend.waitFor(id, { timeoutMs: 15_000 });
    expect(meta).toMatchObject({ status: 'SUCCESS', result: heir.proc.pid, task_id: id });
    await heir.wait('the ack', (e) => e.event === 'acked' && e.id === id);
    await eventually('the queue to drain', async () => (await broker.size(q)) === 0);
    expect(heir.events.filter((e) => e.event === 'delivery')).toHaveLength(1);
    heir.proc.kill('SIGKILL');
  } finally {
    await backend.close();
    await broker.close();
  }
}
