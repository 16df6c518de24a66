/** The SQS receiver's polling, against a client that only records the receives it is sent and answers when told; and how it holds a FIFO group's messages received together. */
import type { Message, ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Lease } from '../../core/pull-consumer.js';
import { FifoGroups } from '../../providers/sqs/fifo-groups.js';
import type { LeaseContext, SqsLease } from '../../providers/sqs/lease.js';
import type { SqsQueue } from '../../providers/sqs/queues.js';
import { Receiver } from '../../providers/sqs/receive.js';

/** A receive in flight: its queue URL, and how to end it (empty, as an idle long poll ends, or with all it asked for). */
interface Poll {
  url: string;
  end(): void;
  endFull(): void;
}

function fakeSqs() {
  const polls: Poll[] = [];
  let sent = 0;
  const client = {
    send(command: ReceiveMessageCommand): Promise<{ Messages: Message[] }> {
      return new Promise((resolve) => {
        const full = () =>
          Array.from({ length: command.input.MaxNumberOfMessages ?? 1 }, () => ({ ReceiptHandle: `r${++sent}`, Body: '{}' }));
        polls.push({
          url: command.input.QueueUrl ?? '',
          end: () => resolve({ Messages: [] }),
          endFull: () => resolve({ Messages: full() }),
        });
      });
    },
  };
  return { polls, ctx: { client: client as unknown as SQSClient } as LeaseContext };
}

const queue = (name: string): SqsQueue => ({ name, sqsName: name, url: `url-${name}`, fifo: false });
/** Lets the receives just ended settle (their promise callbacks run). */
const settle = () => new Promise((resolve) => setImmediate(resolve));

describe('sqs:// receiving', () => {
  it('with less prefetch than queues, polls every queue in turn, however often the loop fetches', async () => {
    const { polls, ctx } = fakeSqs();
    const receiver = new Receiver([queue('a'), queue('b')], ctx, 20, 1);
    for (let round = 0; round < 4; round++) {
      // The pull loop fetches again and again while the one poll it has room for waits.
      for (let i = 0; i <= round; i++) receiver.fetch(1);
      polls.at(-1)?.end();
      await settle();
    }
    expect(polls.map((p) => p.url)).toEqual(['url-a', 'url-b', 'url-a', 'url-b']);
  });

  it('keeps one poll in flight per idle queue, however often the loop fetches and whatever the prefetch', async () => {
    const { polls, ctx } = fakeSqs();
    // -c 8: a prefetch of 32, three polls' worth.
    const receiver = new Receiver([queue('a')], ctx, 20, 32);
    for (let i = 0; i < 5; i++) receiver.fetch(32);
    expect(polls).toHaveLength(1);
    // An empty poll ending (long or short polling alike) is followed by one poll, not a round of them.
    polls[0]?.end();
    await settle();
    for (let i = 0; i < 5; i++) receiver.fetch(32);
    expect(polls).toHaveLength(2);
  });

  it('opens more polls on a queue whose last poll came back full, and goes back to one after an empty one', async () => {
    const { polls, ctx } = fakeSqs();
    const receiver = new Receiver([queue('a')], ctx, 20, 40);
    receiver.fetch(40);
    expect(polls).toHaveLength(1);
    polls[0]?.endFull();
    await settle();
    // The 10 received are handed out; the 30 still free are asked for in three polls beside them.
    expect(receiver.fetch(40)).toHaveLength(10);
    receiver.fetch(30);
    expect(polls).toHaveLength(4);
    for (const p of polls.slice(1)) p.end();
    await settle();
    receiver.fetch(30);
    expect(polls).toHaveLength(5);
  });

  it('keeps a few polls in flight per busy queue and a bounded number in all, whatever the prefetch', async () => {
    const unlimited = 65_535; // --prefetch-multiplier 0
    const one = fakeSqs();
    const single = new Receiver([queue('a')], one.ctx, 20, unlimited);
    single.fetch(unlimited);
    one.polls[0]?.endFull();
    await settle();
    single.fetch(unlimited);
    expect(one.polls.length).toBe(1 + 4);

    const many = fakeSqs();
    const queues = Array.from({ length: 20 }, (_, i) => queue(`q${i}`));
    const receiver = new Receiver(queues, many.ctx, 20, unlimited);
    receiver.fetch(unlimited);
    expect(many.polls.length).toBe(16);
    // Polls ending make room for the queues not yet polled.
    for (const p of many.polls.slice(0, 4)) p.end();
    await settle();
    receiver.fetch(unlimited);
    expect(many.polls.slice(16).map((p) => p.url)).toEqual(['url-q16', 'url-q17', 'url-q18', 'url-q19']);
    // Busy queues' polls fill the 16 as they free up.
    for (const p of many.polls.slice(4, 8)) p.endFull();
    await settle();
    receiver.fetch(unlimited);
    expect(many.polls.length).toBe(16 + 4 + 4);
  });
});

describe('sqs:// FIFO groups received together', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  /** Leases of 30 s, received `receivedAgoMs` ago, recording what is done to them; `out` gets the ones handed out later. */
  function group(names: string[], receivedAgoMs = 0) {
    const log: string[] = [];
    const lease = (name: string): SqsLease => ({
      raw: name,
      queue: 'q.fifo',
      receiveCount: 1,
      leaseMs: 30_000,
      receivedAt: Date.now() - receivedAgoMs,
      ack: async () => void log.push(`${name} ack`),
      deadLetter: async () => void log.push(`${name} dead-letter`),
      retryLater: async (ms) => void log.push(`${name} retry in ${ms}`),
      extendLease: async (ms) => void log.push(`${name} extend ${ms}`),
    });
    const out: Lease[] = [];
    const groups = new FifoGroups((l) => out.push(l));
    const [head] = groups.admit(names.map((name) => ({ lease: lease(name), group: 'A' })));
    return { log, out, groups, head: head as Lease };
  }

  it('extends the held messages with the first, and hands each out with the lease time it has left', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const { log, out, head } = group(['a0', 'a1', 'a2']);
    vi.advanceTimersByTime(10_000);
    await head.extendLease(30_000);
    expect(log).toEqual(['a1 extend 30000', 'a2 extend 30000', 'a0 extend 30000']);
    vi.advanceTimersByTime(5_000);
    await head.ack();
    // Extended at 10 s for 30 s, handed out at 15 s.
    expect(out.map((l) => [l.raw, l.leaseMs])).toEqual([['a1', 25_000]]);
  });

  it('extends the held messages only up to 12 h from their receive (SQS rejects more), and hands each out with that time left', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const { out, head } = group(['a0', 'a1'], 12 * 3_600_000 - 20_000);
    vi.advanceTimersByTime(5_000);
    await head.extendLease(30_000);
    vi.advanceTimersByTime(5_000);
    await head.ack();
    // Extended at 5 s with 15 s left of its 12 h, handed out at 10 s.
    expect(out.map((l) => [l.raw, l.leaseMs])).toEqual([['a1', 10_000]]);
  });

  it('hands back a held message whose lease ran out, and the rest of its group, rather than run it', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const { log, out, groups, head } = group(['a0', 'a1', 'a2']);
    vi.advanceTimersByTime(30_000);
    await head.ack();
    expect(out).toEqual([]);
    expect(log).toEqual(['a1 retry in 0', 'a2 retry in 0', 'a0 ack']);
    expect(groups.held).toBe(0);
  });
});
