/**
 * ControlChannel conformance (Celery's pidbox semantics, celery-protocol.md §6). `make` is
 * called once per side (a client and worker nodes); channels made in one test share state.
 */
import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import type { ControlChannel, ControlCommand } from '../../core/ports.js';
import { eventually } from './helpers.js';

export type MakeControl = () => Promise<{ channel: ControlChannel; close(): Promise<void> }>;

export function controlConformance(name: string, make: MakeControl): void {
  describe(`${name}: remote control conformance`, () => {
    const cleanups: Array<() => Promise<void>> = [];
    const channel = async () => {
      const c = await make();
      cleanups.push(c.close);
      return c.channel;
    };
    /** A worker node that answers ping and records what it was sent. */
    const node = async (hostname: string, answer?: (c: ControlCommand) => Promise<unknown>) => {
      const ch = await channel();
      const seen: ControlCommand[] = [];
      const stop = await ch.listen({ hostname, queues: ['celery'] }, async (c) => {
        seen.push(c);
        return answer ? answer(c) : { ok: 'pong' };
      });
      cleanups.push(stop);
      return { seen, stop };
    };
    const host = (n: string) => `${n}-${randomUUID().slice(0, 6)}@test`;
    afterEach(async () => {
      for (const c of cleanups.splice(0).reverse()) await c();
    });

    it('a broadcast reaches every node and collects their replies', async () => {
      const [a, b] = [host('a'), host('b')];
      await node(a);
      await node(b);
      const client = await channel();
      const replies = await client.broadcast({ method: 'ping', arguments: {} }, { timeoutMs: 3000, limit: 2 });
      expect(replies).toHaveLength(2);
      expect(replies).toEqual(expect.arrayContaining([{ [a]: { ok: 'pong' } }, { [b]: { ok: 'pong' } }]));
    });

    it('without a limit, replies are collected until the timeout', async () => {
      const [a, b] = [host('a'), host('b')];
      await node(a);
      await node(b);
      const client = await channel();
      const started = Date.now();
      const replies = await client.broadcast({ method: 'ping', arguments: {} }, { timeoutMs: 400 });
      expect(Date.now() - started).toBeGreaterThanOrEqual(380);
      expect(replies.map((r) => Object.keys(r)[0]).sort()).toEqual([a, b].sort());
    });

    it('a destination limits who runs the command; arguments arrive intact', async () => {
      const [a, b] = [host('a'), host('b')];
      const na = await node(a);
      const nb = await node(b, async (c) => ({ ok: `limit for ${String(c.arguments.task_name)}` }));
      const client = await channel();
      const replies = await client.broadcast(
        { method: 'rate_limit', arguments: { task_name: 'tasks.add', rate_limit: '10/m' } },
        { destination: [b], timeoutMs: 3000 },
      );
      expect(replies).toEqual([{ [b]: { ok: 'limit for tasks.add' } }]);
      expect(nb.seen[0]).toMatchObject({
        method: 'rate_limit',
        arguments: { task_name: 'tasks.add', rate_limit: '10/m' },
        destination: [b],
      });
      expect(typeof nb.seen[0]?.ticket).toBe('string');
      expect(na.seen).toHaveLength(0);
    });

    it('a failing node answers with an error instead of staying silent', async () => {
      const a = host('a');
      await node(a, async () => {
        throw new Error('no such task');
      });
      const client = await channel();
      const [reply] = await client.broadcast({ method: 'rate_limit', arguments: {} }, { destination: [a], timeoutMs: 3000 });
      expect(reply).toEqual({ [a]: { error: expect.stringMatching(/no such task/) } });
    });

    it('reply: false sends the command and returns no replies', async () => {
      const a = host('a');
      const na = await node(a);
      const client = await channel();
      expect(await client.broadcast({ method: 'revoke', arguments: { task_id: 'x' } }, { timeoutMs: 1000, reply: false })).toEqual([]);
      await eventually('the node to run it', () => na.seen.length === 1);
    });

    it('a node that does not answer in time is left out', async () => {
      const [slow, quick] = [host('slow'), host('quick')];
      let release!: () => void;
      const gate = new Promise<void>((r) => (release = r));
      await node(slow, async () => {
        await gate;
        return { ok: 'late' };
      });
      await node(quick);
      const client = await channel();
      const started = Date.now();
      const replies = await client.broadcast({ method: 'ping', arguments: {} }, { timeoutMs: 300, limit: 2 });
      release();
      expect(Date.now() - started).toBeGreaterThanOrEqual(280);
      expect(replies).toEqual([{ [quick]: { ok: 'pong' } }]);
    });

    it('a node that stopped listening gets nothing', async () => {
      const [a, b] = [host('a'), host('b')];
      const na = await node(a);
      await node(b);
      await na.stop();
      const client = await channel();
      const replies = await client.broadcast({ method: 'ping', arguments: {} }, { timeoutMs: 300 });
      expect(replies).toEqual([{ [b]: { ok: 'pong' } }]);
      expect(na.seen).toHaveLength(0);
    });
  });
}
