/**
 * local:// remote control over two tables (celery-protocol.md §6 semantics): a broadcast is a
 * request row with a ticket, destination and expiry; listening workers read new rows with a
 * cursor (polled every ~100 ms, at once within this process) and write reply rows, which the
 * caller collects until its timeout or limit.
 */
import { randomUUID } from 'node:crypto';
import { isPlainObject } from '../../core/config/checks.js';
import { ReplyCollector, answerCommand, isAddressedTo, readControlCommand } from '../../core/control-node.js';
import type { ControlChannel, ControlCommand, ControlReply, WorkerInfo } from '../../core/ports.js';
import type { LocalDatabase } from './database.js';

const LISTEN_POLL_MS = 100;
const REPLY_POLL_MIN_MS = 2;
const REPLY_POLL_MAX_MS = 50;

export class LocalControl implements ControlChannel {
  readonly #stops = new Set<() => Promise<void>>();

  constructor(private readonly local: LocalDatabase) {}

  async broadcast(
    command: Omit<ControlCommand, 'ticket' | 'destination'>,
    opts: { destination?: string[]; timeoutMs: number; reply?: boolean; limit?: number },
  ): Promise<ControlReply[]> {
    const ticket = randomUUID();
    const wantReply = opts.reply ?? true;
    const full: ControlCommand = { method: command.method, arguments: command.arguments, destination: opts.destination ?? null, ticket };
    const expires = Date.now() + opts.timeoutMs;
    await this.local.write(() =>
      this.local
        .stmt('INSERT INTO control_requests (ticket, command, reply, expires_at) VALUES (?, ?, ?, ?)')
        .run(ticket, JSON.stringify(full), wantReply ? 1 : 0, expires),
    );
    this.local.events.emit('control');
    if (!wantReply) return [];

    const collector = new ReplyCollector(opts.timeoutMs, opts.limit ?? opts.destination?.length);
    let cursor = 0;
    let finished = false;
    let wake: (() => void) | undefined;
    const onReply = (): void => wake?.();
    this.local.events.on('control-reply', onReply);
    void collector.done.then(() => {
      finished = true;
      wake?.();
    });
    try {
      let delay = REPLY_POLL_MIN_MS;
      while (!finished) {
        const rows = this.local
          .stmt('SELECT id, reply FROM control_replies WHERE ticket = ? AND id > ? ORDER BY id')
          .all(ticket, cursor) as Array<{
          id: number;
          reply: string;
        }>;
        for (const row of rows) {
          cursor = row.id;
          const reply = parseReply(row.reply);
          if (reply) collector.add(reply);
        }
        if (finished) break;
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, delay);
          wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        wake = undefined;
        delay = Math.min(REPLY_POLL_MAX_MS, delay * 2);
      }
    } finally {
      this.local.events.off('control-reply', onReply);
    }
    await this.local.write(() => this.local.stmt('DELETE FROM control_replies WHERE ticket = ?').run(ticket)).catch(() => {});
    return collector.replies;
  }

  async listen(worker: WorkerInfo, onCommand: (c: ControlCommand) => Promise<unknown>): Promise<() => Promise<void>> {
    // Only requests sent from now on: a broadcast is not replayed to workers started later (§6).
    let cursor = (this.local.stmt('SELECT COALESCE(MAX(id), 0) AS id FROM control_requests').get() as { id: number }).id;
    let timer: NodeJS.Timeout | undefined;
    let stopped = false;
    const running = new Set<Promise<void>>();

    const poll = (): void => {
      if (stopped) return;
      clearTimeout(timer);
      const rows = this.local
        .stmt('SELECT id, command, reply, expires_at FROM control_requests WHERE id > ? ORDER BY id')
        .all(cursor) as Array<{ id: number; command: string; reply: number; expires_at: number }>;
      for (const row of rows) {
        cursor = row.id;
        if (row.expires_at <= Date.now()) continue;
        let command: ControlCommand;
        try {
          // Any process that can open the database can write this row.
          command = readControlCommand(JSON.parse(row.command));
        } catch (err) {
          worker.log?.warning(`Ignored control request ${row.id}: ${(err as Error).message}`);
          continue;
        }
        if (!isAddressedTo(command.destination, worker.hostname)) continue;
        const job = this.#handle(worker.hostname, command, row.reply === 1, row.expires_at, onCommand).finally(() => running.delete(job));
        running.add(job);
      }
      timer = setTimeout(poll, LISTEN_POLL_MS);
    };
    const onRequest = (): void => poll();
    this.local.events.on('control', onRequest);
    poll();

    const stop = async (): Promise<void> => {
      if (stopped) return;
      stopped = true;
      clearTimeout(timer);
      this.local.events.off('control', onRequest);
      this.#stops.delete(stop);
      await Promise.all(running);
    };
    this.#stops.add(stop);
    return stop;
  }

  async #handle(
    hostname: string,
    command: ControlCommand,
    reply: boolean,
    expiresAt: number,
    onCommand: (c: ControlCommand) => Promise<unknown>,
  ): Promise<void> {
    const answer = await answerCommand(hostname, command, onCommand);
    if (!reply) return;
    let text: string;
    try {
      text = JSON.stringify(answer);
    } catch (err) {
      text = JSON.stringify({ [hostname]: { error: `reply could not be serialized: ${(err as Error).message}` } });
    }
    await this.local.write(() =>
      this.local.stmt('INSERT INTO control_replies (ticket, reply, expires_at) VALUES (?, ?, ?)').run(command.ticket, text, expiresAt),
    );
    this.local.events.emit('control-reply');
  }

  /** Stop every listener of this broker (on close). */
  async close(): Promise<void> {
    await Promise.all([...this.#stops].map((stop) => stop()));
  }
}

/** A reply row, as any process that can open the database can write it: anything but a JSON object is no reply. */
function parseReply(text: string): ControlReply | undefined {
  try {
    const reply: unknown = JSON.parse(text);
    return isPlainObject(reply) ? reply : undefined;
  } catch {
    return undefined;
  }
}
