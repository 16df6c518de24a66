/**
 * The fetch side of an SQS consumer, for core's shared pull loop (core/pull-consumer.ts):
 * ReceiveMessage long polling on every consumed queue, each receive taking at most 10, as many
 * in parallel as the free prefetch allows. `fetch` never waits on a poll: it starts what
 * capacity allows and hands out what has arrived; a poll that brings messages wakes the loop
 * (PullSource.subscribe). So an idle queue's 20 s poll never holds up a busy one.
 *
 * Capacity: handed out + received-not-yet-handed + asked for ≤ prefetch, so a worker never
 * holds more messages than its prefetch. Each queue asks for at most its share of the prefetch
 * (prefetch / number of queues), so idle queues' polls leave the busy ones room; and while
 * messages are held, a receive asks for at least min(10, share, prefetch / 2) — a batch, not
 * one request per settled task. An idle queue has one poll in flight (as kombu's one receive
 * per queue): more only once its last poll came back full, a sign that messages wait. Polls in
 * flight are bounded, per queue and in all, whatever the prefetch: each holds one of the SDK's
 * sockets for up to 20 s, and the deletes and lease extensions must find one free. Queues are
 * polled in turn, so one the capacity cannot cover at once (a prefetch below the number of
 * queues, or more queues than polls) still gets its turn.
 *
 * SQS has no priorities: messages received are handed out highest `celeriac.priority` first,
 * so priority orders what a worker holds, not the whole queue. Not on FIFO queues: there a
 * message group's messages are handed out in receive order, one after another (fifo-groups.ts).
 */
import { type Message, ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import type { ConsumeOptions, Consumer, Delivery } from '../../core/ports.js';
import { type Lease, startPullConsumer } from '../../core/pull-consumer.js';
import { FifoGroups, type Grouped } from './fifo-groups.js';
import { type LeaseContext, leaseFor, toLease } from './lease.js';
import { MAX_BATCH, MAX_VISIBILITY_S, wholeSeconds } from './limits.js';
import type { SqsQueue } from './queues.js';

/**
 * Idle waits of the pull loop between fetches that found nothing. Fetching starts polls and costs
 * no request by itself; a poll bringing messages wakes the loop at once. The longest wait paces
 * retries after an error (and wait_time_seconds=0, short polling).
 */
const IDLE_MIN_MS = 10;
const IDLE_MAX_MS = 1000;
/**
 * Long polls in flight, per queue (once its last poll came back full) and in all: a busy queue's
 * polls each come back at once with up to 10, so a few keep it drained, and the total stays well
 * under the SDK's 50 sockets.
 */
const MAX_POLLS_PER_QUEUE = 4;
const MAX_POLLS = 16;

/** SqsBroker.consume: core's pull loop fed by a Receiver. */
export function consumeQueues(
  queues: SqsQueue[],
  ctx: LeaseContext,
  waitTimeSeconds: number,
  handler: (d: Delivery) => Promise<void>,
  opts: ConsumeOptions,
): Consumer & { abort(): Promise<void>; stopWithinMs: number } {
  const receiver = new Receiver(queues, ctx, waitTimeSeconds, opts.prefetch);
  const loop = startPullConsumer(
    {
      fetch: (max) => receiver.fetch(max),
      subscribe: (wake) => receiver.subscribe(wake),
      idleMinMs: IDLE_MIN_MS,
      idleMaxMs: IDLE_MAX_MS,
    },
    handler,
    opts,
  );
  const stopWith = async (handedBack: Promise<void>): Promise<void> => {
    await loop.stop();
    await handedBack;
  };
  return {
    stop: () => stopWith(receiver.stop()),
    abort: () => stopWith(receiver.abort()),
    stopWithinMs: waitTimeSeconds * 1000,
  };
}

/** What a queue's receives in flight ask for. */
interface InFlight {
  messages: number;
  polls: number;
  /** Its last poll brought all it asked for: more may wait, worth more than one poll. */
  full: boolean;
}

interface Buffered {
  lease: Lease;
  priority: number;
}

/** A message as received: its lease, unless it had to be handed back at once. */
interface Leased extends Grouped {
  priority: number;
}

export class Receiver {
  #buffer: Buffered[] = [];
  /** FIFO messages held back behind one of their message group, and handed out after it. */
  readonly #groups = new FifoGroups((lease) => {
    this.#buffer.push({ lease, priority: 0 });
    this.#wake?.();
  });
  /** Messages asked for, and receives, in flight per queue name. */
  readonly #asked: Map<string, InFlight>;
  #askedTotal = 0;
  #pollsTotal = 0;
  /** The receives in flight, each settled once what it brought is buffered (or handed back). */
  readonly #polls = new Set<Promise<unknown>>();
  #error: unknown;
  #wake: (() => void) | undefined;
  #turn = 0;
  #stopped = false;
  readonly #abort = new AbortController();
  readonly #share: number;
  readonly #minAsk: number;

  constructor(
    private readonly queues: SqsQueue[],
    private readonly ctx: LeaseContext,
    private readonly waitTimeSeconds: number,
    private readonly prefetch: number,
  ) {
    this.#asked = new Map(queues.map((q) => [q.name, { messages: 0, polls: 0, full: false }]));
    this.#share = Math.max(1, Math.floor(prefetch / queues.length));
    this.#minAsk = Math.min(MAX_BATCH, this.#share, Math.max(1, Math.floor(prefetch / 2)));
  }

  /** The pull loop's wake-up, called when a receive completes. */
  subscribe(wake: () => void): () => void {
    this.#wake = wake;
    return () => {
      this.#wake = undefined;
    };
  }

  fetch(max: number): Lease[] {
    if (this.#stopped) return [];
    const error = this.#error;
    this.#error = undefined;
    this.#start(max - this.#buffer.length - this.#groups.held - this.#askedTotal, max >= this.prefetch);
    if (this.#buffer.length === 0 && error !== undefined) throw error;
    return this.#buffer.splice(0, max).map((b) => b.lease);
  }

  /**
   * Stop receiving and hand back what was received but not handed out; resolves once the long
   * polls still in flight have finished (within wait_time_seconds) and what they brought is
   * handed back too. Cancelling one client-side does not stop SQS from taking a message for it,
   * which would then stay hidden for the visibility timeout.
   */
  async stop(): Promise<void> {
    this.#stopped = true;
    await Promise.all([this.#handBack(this.#buffer.splice(0)), this.#groups.handBackAll(), ...this.#polls]);
  }

  /** Stop without waiting for the long polls: cancel them (closing the broker). */
  abort(): Promise<void> {
    this.#abort.abort();
    return this.stop();
  }

  #handBack(held: Buffered[]): Promise<unknown> {
    return Promise.all(held.map((b) => b.lease.retryLater(0).catch(() => undefined)));
  }

  /** Start receives for up to `want` messages; `idle` = nothing is handed out. */
  #start(want: number, idle: boolean): void {
    const n = this.queues.length;
    // In rounds of one poll per queue: every queue gets one before any gets a second.
    for (let started = true; started; ) {
      started = false;
      const first = this.#turn;
      for (let i = 0; i < n && want > 0 && this.#pollsTotal < MAX_POLLS; i++) {
        const queue = this.queues[(first + i) % n] as SqsQueue;
        const asked = this.#asked.get(queue.name) as InFlight;
        const room = Math.min(MAX_BATCH, want, this.#share - asked.messages);
        // With nothing held, take what there is; else only a batch is worth a request.
        const nothingHeld = idle && this.#askedTotal === 0 && this.#buffer.length === 0;
        const polls = asked.full ? MAX_POLLS_PER_QUEUE : 1;
        if (asked.polls >= polls || room <= 0 || (room < this.#minAsk && !nothingHeld)) continue;
        want -= room;
        this.#receive(queue, asked, room);
        // The next start begins after the last queue polled: per poll, not per fetch.
        this.#turn = (first + i + 1) % n;
        started = true;
      }
    }
  }

  #receive(queue: SqsQueue, asked: InFlight, ask: number): void {
    asked.messages += ask;
    asked.polls++;
    this.#askedTotal += ask;
    this.#pollsTotal++;
    const poll = this.#receiveBatch(queue, ask, this.waitTimeSeconds).then(
      (got) => {
        this.#settled(asked, ask);
        asked.full = got.length >= ask;
        const leased = got.filter((b): b is Leased & Buffered => b.lease !== undefined);
        if (this.#stopped) return this.#handBack(leased);
        const ready = queue.fifo ? this.#groups.admit(got).map((lease) => ({ lease, priority: 0 })) : leased;
        if (ready.length === 0) return; // the loop's idle timer starts the next poll: no request storm when polls are short
        this.#buffer.push(...ready);
        // Stable: equal priorities keep SQS's order.
        this.#buffer.sort((a, b) => b.priority - a.priority);
        this.#wake?.();
      },
      (err: unknown) => {
        this.#settled(asked, ask);
        asked.full = false;
        if (!this.#abort.signal.aborted) this.#error = err;
      },
    );
    this.#polls.add(poll);
    void poll.finally(() => this.#polls.delete(poll));
  }

  #settled(asked: InFlight, ask: number): void {
    asked.messages -= ask;
    asked.polls--;
    this.#askedTotal -= ask;
    this.#pollsTotal--;
  }

  async #receiveBatch(queue: SqsQueue, max: number, wait: number): Promise<Leased[]> {
    // SQS's receive falls between the request and its answer: timed from the request, the 12 h
    // visibility cap (lease.ts) is never overstepped.
    const receivedAt = Date.now();
    const out = await this.ctx.client.send(
      new ReceiveMessageCommand({
        QueueUrl: queue.url,
        MaxNumberOfMessages: max,
        WaitTimeSeconds: wait,
        // Set per receive, so the lease length is the URL's, whatever the queue's default.
        VisibilityTimeout: wholeSeconds(this.ctx.visibilityTimeoutMs, MAX_VISIBILITY_S),
        MessageSystemAttributeNames: ['ApproximateReceiveCount', 'MessageGroupId'],
        MessageAttributeNames: ['All'],
      }),
      { abortSignal: this.#abort.signal },
    );
    // In receive order: a FIFO group's messages come in its order.
    return Promise.all((out.Messages ?? []).map((m) => this.#toLeased(queue, m, receivedAt)));
  }

  async #toLeased(queue: SqsQueue, message: Message, receivedAt: number): Promise<Leased> {
    const priority = Number(message.MessageAttributes?.['celeriac.priority']?.StringValue ?? 0) || 0;
    const group = message.Attributes?.MessageGroupId ?? '';
    try {
      return { lease: await leaseFor(queue, message, receivedAt, this.ctx), priority, group };
    } catch {
      // The claim-check store failed (transient): hand this one back for a later receive, deliver the rest.
      await toLease(queue, { message, raw: message.Body ?? '', receivedAt }, this.ctx)
        .retryLater(0)
        .catch(() => undefined);
      return { lease: undefined, priority, group };
    }
  }
}
