/**
 * Leasing and settling local:// messages. Each transition is one statement (or one savepoint
 * of a batched transaction), guarded by the lease id so a holder whose lease expired and was
 * taken over by another consumer cannot settle the new holder's message.
 */
import { encodeEnvelope } from '../../core/envelope.js';
import type { TaskMessage } from '../../core/message.js';
import type { Lease } from '../../core/pull-consumer.js';
import type { LocalDatabase } from './database.js';

interface LeasedRow {
  id: number;
  queue: string;
  priority: number;
  body: unknown;
  receive_count: number;
}

const LEASE = `UPDATE messages SET available_at = @until, receive_count = receive_count + 1, lease = @lease
  WHERE id IN (SELECT id FROM messages INDEXED BY messages_fetch WHERE queue = @queue AND available_at <= @now ORDER BY priority DESC, id LIMIT @max)
  RETURNING id, queue, priority, body, receive_count`;

/**
 * Whether a queue has a message due: asked first, since the fetch order walks every message held
 * for later (a backlog of ETA tasks) before it finds none due, at every idle poll.
 */
export const ANY_DUE = 'SELECT 1 FROM messages INDEXED BY messages_due WHERE queue = @queue AND available_at <= @now LIMIT 1';

/** A row somebody else wrote may hold a blob or a number; it is still delivered (as malformed). */
const text = (body: unknown): string => (typeof body === 'string' ? body : Buffer.isBuffer(body) ? body.toString('utf8') : String(body));

/** Lease up to `max` visible messages from the queues (in turn, starting at `start`), atomically. */
export function leaseMessages(local: LocalDatabase, queues: string[], max: number, leaseMs: number, start: number): Lease[] {
  const now = Date.now();
  // Random per fetch: unique across processes without coordination.
  const lease = Math.floor(Math.random() * 2 ** 52);
  const rows: LeasedRow[] = [];
  const take = (queue: string): void => {
    if (rows.length >= max || !local.stmt(ANY_DUE).get({ queue, now })) return;
    const got = local.stmt(LEASE).all({ until: now + leaseMs, lease, queue, now, max: max - rows.length }) as LeasedRow[];
    // RETURNING order is unspecified: restore fetch order.
    got.sort((a, b) => b.priority - a.priority || a.id - b.id);
    rows.push(...got);
  };
  if (queues.length === 1) take(queues[0] as string);
  else
    local.db
      .transaction(() => {
        for (let i = 0; i < queues.length; i++) take(queues[(start + i) % queues.length] as string);
      })
      .immediate();
  return rows.map((row) => toLease(local, row, lease, leaseMs));
}

function toLease(local: LocalDatabase, row: LeasedRow, lease: number, leaseMs: number): Lease {
  const key = { id: row.id, lease };
  return {
    raw: text(row.body),
    queue: row.queue,
    receiveCount: row.receive_count,
    leaseMs,
    ack: async () => {
      await local.write(() => local.stmt('DELETE FROM messages WHERE id = @id AND lease = @lease').run(key));
    },
    retryLater: async (delayMs, replacement) => {
      await local.write(() => release(local, key, Date.now() + Math.max(0, delayMs), replacement));
      if (delayMs <= 0) local.events.emit('wake');
    },
    deadLetter: async (reason) => {
      await local.write(() => {
        local
          .stmt(
            'INSERT INTO dead_letters (queue, reason, raw, at) SELECT queue, @reason, CAST(body AS TEXT), @at FROM messages WHERE id = @id AND lease = @lease',
          )
          .run({ ...key, reason, at: Date.now() });
        local.stmt('DELETE FROM messages WHERE id = @id AND lease = @lease').run(key);
      });
    },
    extendLease: async (ms) => {
      await local.write(() =>
        local.stmt('UPDATE messages SET available_at = @at WHERE id = @id AND lease = @lease').run({ ...key, at: Date.now() + ms }),
      );
    },
  };
}

function release(local: LocalDatabase, key: { id: number; lease: number }, at: number, replacement?: TaskMessage): void {
  if (!replacement) {
    local.stmt('UPDATE messages SET available_at = @at, lease = NULL WHERE id = @id AND lease = @lease').run({ ...key, at });
    return;
  }
  // A replacement is a new message (retries+1): it starts counting deliveries afresh. It stays in
  // this queue, whatever exchange and routing key brought the message here.
  local
    .stmt(
      `UPDATE messages SET available_at = @at, lease = NULL, priority = @priority, body = @body, receive_count = 0
       WHERE id = @id AND lease = @lease`,
    )
    .run({
      ...key,
      at,
      priority: replacement.properties.priority,
      body: encodeEnvelope(replacement),
    });
}
