/** memory:// remote control: broadcast to the listeners of this URL in this process (§6 semantics). */
import { randomUUID } from 'node:crypto';
import { ReplyCollector, answerCommand, isAddressedTo } from '../../core/control-node.js';
import type { ControlChannel, ControlCommand, ControlReply, WorkerInfo } from '../../core/ports.js';

type Listener = (command: ControlCommand) => Promise<ControlReply>;

export class MemoryControl implements ControlChannel {
  readonly #listeners = new Map<symbol, { worker: WorkerInfo; run: Listener }>();

  async broadcast(
    command: Omit<ControlCommand, 'ticket' | 'destination'>,
    opts: { destination?: string[]; timeoutMs: number; reply?: boolean; limit?: number },
  ): Promise<ControlReply[]> {
    const destination = opts.destination ?? null;
    const full: ControlCommand = { method: command.method, arguments: command.arguments, destination, ticket: randomUUID() };
    const wantReply = opts.reply ?? true;
    const collector = wantReply ? new ReplyCollector(opts.timeoutMs, opts.limit ?? destination?.length) : undefined;
    for (const { worker, run } of this.#listeners.values()) {
      if (!isAddressedTo(destination, worker.hostname)) continue;
      // Each node gets its own copy, as it would off the wire.
      void run(structuredClone(full)).then((reply) => collector?.add(reply));
    }
    return collector ? collector.done : [];
  }

  async nodes(): Promise<number> {
    return this.#listeners.size;
  }

  async listen(worker: WorkerInfo, onCommand: (c: ControlCommand) => Promise<unknown>): Promise<() => Promise<void>> {
    const id = Symbol(worker.hostname);
    this.#listeners.set(id, { worker, run: (c) => answerCommand(worker.hostname, c, onCommand) });
    return async () => {
      this.#listeners.delete(id);
    };
  }
}
