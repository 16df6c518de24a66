/**
 * Waiting for a list to be non-empty without taking anything from it: `BLMOVE list list RIGHT
 * RIGHT` on a dedicated connection moves the oldest element from the tail back to the tail (a
 * no-op) and returns as soon as the list has one. The message itself is then taken by the atomic
 * fetch-and-lease script. A plain BRPOP (kombu's way) would remove the message, so a connection
 * dropped between the server's pop and the client's read of the reply would lose it; here a lost
 * reply loses nothing, and there is no window in which a message lives only in process memory.
 */
import type { Redis } from 'ioredis';

/** How long one blocking call waits before it is re-issued (kombu's BRPOP timeout is 1 s, §2.2). */
const BLOCK_S = 1;

export class ListWaiter {
  #blocking = false;

  constructor(
    private readonly client: Redis,
    readonly key: string,
  ) {}

  /**
   * Make sure a blocking wait is out; `onReady` runs when it returns (the list has an element, or
   * the block timed out: the caller re-checks either way). A wait already out is left alone, so
   * each wait calls back once however often the caller goes idle meanwhile.
   */
  arm(onReady: () => void): void {
    if (this.#blocking) return;
    this.#blocking = true;
    this.client
      .blmove(this.key, this.key, 'RIGHT', 'RIGHT', BLOCK_S)
      // A closed connection (stop) ends the wait; the fetch that follows reports real errors.
      .catch(() => undefined)
      .finally(() => {
        this.#blocking = false;
        onReady();
      });
  }

  close(): void {
    this.client.disconnect();
  }
}
