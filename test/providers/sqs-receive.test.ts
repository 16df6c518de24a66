/** The SQS receiver's polling, against a client that only records the receives it is sent and answers when told. */
import type { ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { describe, expect, it } from 'vitest';
import type { LeaseContext } from '../../providers/sqs/lease.js';
import type { SqsQueue } from '../../providers/sqs/queues.js';
import { Receiver } from '../../providers/sqs/receive.js';

/** A receive in flight: its queue URL, and how to end it (empty, as an idle long poll ends). */
interface Poll {
  url: string;
  end(): void;
}

function fakeSqs() {
  const polls: Poll[] = [];
  const client = {
    send(command: ReceiveMessageCommand): Promise<{ Messages: [] }> {
      return new Promise((resolve) => {
        polls.push({ url: command.input.QueueUrl ?? '', end: () => resolve({ Messages: [] }) });
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

  it('keeps a few polls in flight per queue and a bounded number in all, whatever the prefetch', async () => {
    const unlimited = 65_535; // --prefetch-multiplier 0
    const one = fakeSqs();
    new Receiver([queue('a')], one.ctx, 20, unlimited).fetch(unlimited);
    expect(one.polls.length).toBe(4);

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
  });
});
