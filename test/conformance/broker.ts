/**
 * Broker conformance: the cases every transport passes (DESIGN.md "Semantics every provider
 * keeps"). A provider's test calls `brokerConformance(name, make)` with its own factory.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { decodeEnvelope, encodeEnvelope } from '../../core/envelope.js';
import type { TaskMessage } from '../../core/message.js';
import type { Broker, Delivery } from '../../core/ports.js';
import { Recorder, eventually, taskMessage, uniqueQueue } from './helpers.js';

export interface BrokerHarness {
  broker: Broker;
  /**
   * Which priority number is served first. AMQP and celeriac's own stores serve 9 first; kombu on
   * Redis serves 0 first (celery-protocol.md §2.3), and a Redis broker shared with Python keeps that.
   */
  priorityOrder?: 'higher-first' | 'lower-first';
  /** Write a raw envelope into a queue as a foreign client could (for malformed-message cases). */
  publishRaw(queue: string, raw: string): Promise<void>;
  close(): Promise<void>;
}

export interface BrokerFactoryOptions {
  /** Lease length for the tests; short so lease-expiry cases run fast. */
  visibilityTimeoutMs: number;
}

export type MakeBroker = (opts: BrokerFactoryOptions) => Promise<BrokerHarness> | BrokerHarness;

const VT = 400;

export function brokerConformance(name: string, make: MakeBroker): void {
  describe(`${name}: broker conformance`, () => {
    const open: Array<{ h: BrokerHarness; recorders: Recorder[] }> = [];
    const setup = async () => {
      const h = await make({ visibilityTimeoutMs: VT });
      const entry = { h, recorders: [] as Recorder[] };
      open.push(entry);
      const record = async (queues: string[], prefetch = 10, onDelivery?: (d: Delivery) => void) => {
        const r = await Recorder.start(h.broker, queues, { prefetch }, onDelivery);
        entry.recorders.push(r);
        return r;
      };
      return { broker: h.broker, h, record };
    };
    afterEach(async () => {
      for (const { h, recorders } of open.splice(0)) {
        await Promise.all(recorders.map((r) => r.stop()));
        await h.close();
      }
    });

    it('delivers published messages in order, decoded as sent, with receiveCount 1', async () => {
      const { broker, record } = await setup();
      const q = uniqueQueue('order');
      const first = [1, 2, 3].map((n) => taskMessage(q, [n]));
      const second = [4, 5].map((n) => taskMessage(q, [n]));
      await broker.publish(q, first);
      await broker.publish(q, second);
      const r = await record([q]);
      const got = await r.waitFor(5);
      expect(r.ids()).toEqual([...first, ...second].map((m) => m.headers.id));
      const d = got[0] as Delivery;
      expect(d.message).toEqual(first[0]);
      expect(d.queue).toBe(q);
      expect(d.receiveCount).toBe(1);
      expect(d.malformed).toBeUndefined();
      expect(decodeEnvelope(d.raw as string)).toEqual(first[0]);
      await Promise.all(got.map((x) => x.ack()));
    });

    it('publishes a large batch and delivers every message exactly once', async () => {
      const { broker, record } = await setup();
      const q = uniqueQueue('batch');
      const msgs = Array.from({ length: 300 }, (_, i) => taskMessage(q, [i]));
      await broker.publish(q, msgs);
      const r = await record([q], 50, (d) => void d.ack());
      await r.waitFor(300);
      expect(new Set(r.ids()).size).toBe(300);
      expect(r.received.every((x) => x.delivery.receiveCount === 1)).toBe(true);
      await eventually('the queue to be empty', async () => (await broker.size?.(q)) === 0 || broker.size === undefined);
    });

    it("serves priorities in the transport's order", async () => {
      const { broker, record, h } = await setup();
      const q = uniqueQueue('prio');
      const low = taskMessage(q, ['low'], { priority: 0 });
      const high = taskMessage(q, ['high'], { priority: 9 });
      const mid = taskMessage(q, ['mid'], { priority: 5 });
      await broker.publish(q, [low, high, mid]);
      const r = await record([q]);
      await r.waitFor(3);
      const order = h.priorityOrder === 'lower-first' ? [low, mid, high] : [high, mid, low];
      expect(r.ids()).toEqual(order.map((m) => m.headers.id));
    });

    it('does not deliver a message before its ETA', async () => {
      const { broker, record } = await setup();
      const q = uniqueQueue('eta');
      const eta = Date.now() + 500;
      const later = taskMessage(q, ['later'], { eta: new Date(eta).toISOString() });
      const now = taskMessage(q, ['now']);
      await broker.publish(q, [later, now]);
      const r = await record([q], 10, (d) => void d.ack());
      await r.waitFor(2);
      expect(r.ids()).toEqual([now.headers.id, later.headers.id]);
      expect(r.received[1]?.at).toBeGreaterThanOrEqual(eta);
    });

    it('an acked message is gone for good', async () => {
      const { broker, record } = await setup();
      const q = uniqueQueue('ack');
      const m = taskMessage(q, ['once']);
      await broker.publish(q, [m]);
      const r = await record([q]);
      const [d] = await r.waitFor(1);
      await d?.ack();
      // A sentinel due after the lease would have expired: when it arrives, a lost ack would have shown.
      await broker.publish(q, [taskMessage(q, ['sentinel'], { eta: new Date(Date.now() + VT * 2).toISOString() })]);
      await r.waitFor(2);
      expect(r.ids().filter((id) => id === m.headers.id)).toHaveLength(1);
    });

    it('redelivers an unsettled message after its lease, with receiveCount 2', async () => {
      const { broker, record } = await setup();
      const q = uniqueQueue('lease');
      const m = taskMessage(q, ['again']);
      await broker.publish(q, [m]);
      const r = await record([q]);
      const [first, second] = await r.waitFor(2, VT * 10);
      expect(second?.message).toEqual(m);
      expect(first?.receiveCount).toBe(1);
      expect(second?.receiveCount).toBe(2);
      expect((r.received[1]?.at ?? 0) - (r.received[0]?.at ?? 0)).toBeGreaterThanOrEqual(VT - 50);
      await second?.ack();
    });

    it('extendLease keeps a message hidden past its first lease', async () => {
      const { broker, record } = await setup();
      const q = uniqueQueue('extend');
      const m = taskMessage(q, ['long']);
      await broker.publish(q, [m]);
      const r = await record([q]);
      const [d] = await r.waitFor(1);
      await d?.extendLease(VT * 6);
      await broker.publish(q, [taskMessage(q, ['sentinel'], { eta: new Date(Date.now() + VT * 2.5).toISOString() })]);
      await r.waitFor(2, VT * 10);
      expect(r.ids().filter((id) => id === m.headers.id)).toHaveLength(1);
      await d?.ack();
    });

    it('retryLater hides the message for the delay, then delivers it again', async () => {
      const { broker, record } = await setup();
      const q = uniqueQueue('retry');
      const m = taskMessage(q, ['retry']);
      await broker.publish(q, [m]);
      const r = await record([q]);
      const [d] = await r.waitFor(1);
      const before = Date.now();
      await d?.retryLater(300);
      const [, again] = await r.waitFor(2);
      expect(again?.message).toEqual(m);
      expect(again?.receiveCount).toBe(2);
      expect(r.received[1]?.at ?? 0).toBeGreaterThanOrEqual(before + 300);
      await again?.ack();
    });

    it('retryLater(0) hands a message back at once', async () => {
      const { broker, record } = await setup();
      const q = uniqueQueue('handback');
      await broker.publish(q, [taskMessage(q, ['back'])]);
      const r = await record([q]);
      const [d] = await r.waitFor(1);
      await d?.retryLater(0);
      const [, again] = await r.waitFor(2, VT / 2);
      expect(again?.receiveCount).toBe(2);
      await again?.ack();
    });

    it('retryLater with a replacement delivers the replacement (e.g. retries+1)', async () => {
      const { broker, record } = await setup();
      const q = uniqueQueue('replace');
      const m = taskMessage(q, ['v1']);
      await broker.publish(q, [m]);
      const r = await record([q]);
      const [d] = await r.waitFor(1);
      const replacement = taskMessage(q, ['v2'], { id: m.headers.id, retries: 1 });
      await d?.retryLater(50, replacement);
      const [, again] = await r.waitFor(2);
      expect(again?.message).toEqual(replacement);
      expect(again?.message?.headers.retries).toBe(1);
      expect(again?.receiveCount).toBe(1);
      await again?.ack();
    });

    it('a replacement of a message routed by a named exchange goes back to the queue it came from, keeping its route', async () => {
      const { h, record } = await setup();
      const q = uniqueQueue('routed');
      // As a Python client sends through exchange 'media' whose binding 'media.<q>' names the queue.
      const route = { exchange: 'media', routingKey: `media.${q}` };
      const m = taskMessage(q, ['v1']);
      await h.publishRaw(q, encodeEnvelope(m, route));
      const r = await record([q]);
      const [d] = await r.waitFor(1);
      expect(d?.message).toEqual({ ...m, route });
      const replacement = { ...(d?.message as TaskMessage), headers: { ...m.headers, retries: 1 } };
      await d?.retryLater(50, replacement);
      const [, again] = await r.waitFor(2);
      expect(again?.queue).toBe(q);
      expect(again?.message).toEqual(replacement);
      expect(JSON.parse(again?.raw as string).properties.delivery_info).toEqual({ exchange: 'media', routing_key: `media.${q}` });
      await again?.ack();
    });

    it('deadLetter removes the message and keeps it with its reason and raw envelope', async () => {
      const { broker, record } = await setup();
      const q = uniqueQueue('dead');
      const m = taskMessage(q, ['poison']);
      await broker.publish(q, [m]);
      const r = await record([q]);
      const [d] = await r.waitFor(1);
      await d?.deadLetter('Task tests.echo is not registered');
      if (broker.deadLetters) {
        const dead = await eventually('the dead letter', async () => (await broker.deadLetters?.(q))?.[0]);
        expect(dead.reason).toBe('Task tests.echo is not registered');
        expect(dead.queue).toBe(q);
        expect(decodeEnvelope(dead.raw)).toEqual(m);
      }
      await broker.publish(q, [taskMessage(q, ['sentinel'], { eta: new Date(Date.now() + VT * 2).toISOString() })]);
      await r.waitFor(2, VT * 10);
      expect(r.ids().filter((id) => id === m.headers.id)).toHaveLength(1);
    });

    it('delivers an undecodable envelope as malformed, with a reason, and keeps consuming', async () => {
      const { broker, h, record } = await setup();
      const q = uniqueQueue('garbage');
      await h.publishRaw(q, 'this is not json');
      await h.publishRaw(q, JSON.stringify({ body: 'W10=', headers: { id: 'x', task: 't' }, properties: {} }));
      const r = await record([q]);
      const [a, b] = await r.waitFor(2);
      expect(a?.message).toBeUndefined();
      expect(a?.malformed).toMatch(/not JSON/);
      expect(a?.raw).toBe('this is not json');
      expect(b?.malformed).toMatch(/delivery_info/);
      await a?.deadLetter(a.malformed as string);
      await b?.deadLetter(b.malformed as string);
      const good = taskMessage(q, ['fine']);
      await broker.publish(q, [good]);
      const [, , c] = await r.waitFor(3);
      expect(c?.message).toEqual(good);
      if (broker.deadLetters) expect((await broker.deadLetters(q)).map((x) => x.raw)).toContain('this is not json');
    });

    it('purge removes waiting messages and size counts them', async () => {
      const { broker, record } = await setup();
      const q = uniqueQueue('purge');
      await broker.publish(
        q,
        [1, 2, 3].map((n) => taskMessage(q, [n])),
      );
      if (broker.size) expect(await broker.size(q)).toBe(3);
      expect(await broker.purge(q)).toBe(3);
      if (broker.size) expect(await broker.size(q)).toBe(0);
      const sentinel = taskMessage(q, ['after']);
      await broker.publish(q, [sentinel]);
      const r = await record([q]);
      await r.waitFor(1);
      expect(r.ids()).toEqual([sentinel.headers.id]);
    });

    it('never has more than prefetch deliveries unsettled', async () => {
      const { broker, record } = await setup();
      const q = uniqueQueue('prefetch');
      await broker.publish(
        q,
        Array.from({ length: 8 }, (_, i) => taskMessage(q, [i])),
      );
      let unsettled = 0;
      let most = 0;
      let acked = 0;
      await record([q], 2, (d) => {
        unsettled++;
        most = Math.max(most, unsettled);
        // Settle a little later, so a consumer ignoring the bound would have time to over-fetch.
        setTimeout(() => {
          unsettled--;
          void d.ack().then(() => acked++);
        }, 20);
      });
      await eventually('all 8 acked', () => acked === 8);
      expect(most).toBe(2);
    });

    it('a stopped consumer takes nothing more; deliveries it holds can still be settled', async () => {
      const { broker, record } = await setup();
      const q = uniqueQueue('stop');
      await broker.publish(q, [taskMessage(q, ['held'])]);
      const a = await record([q]);
      const [held] = await a.waitFor(1);
      await a.stop();
      const m = taskMessage(q, ['next']);
      await broker.publish(q, [m]);
      const b = await record([q]);
      await b.waitFor(1);
      expect(b.ids()).toEqual([m.headers.id]);
      expect(a.received).toHaveLength(1);
      await held?.ack();
    });
  });
}
