/**
 * One received SQS message as a Lease (core/pull-consumer.ts): how each settle call maps onto
 * SQS. The message stays in SQS, hidden for its visibility timeout, until it is deleted.
 *
 * - ack: DeleteMessage (batched per tick), then the claim-check key, if any, is deleted.
 * - extendLease: ChangeMessageVisibility (the executor heartbeats long tasks). SQS keeps a message
 *   hidden at most 12 h from its receive and rejects a request past that, so every visibility
 *   change is capped at the time left (limits.ts visibilitySeconds); once none is left, extendLease
 *   fails saying so: the message is delivered again while its task runs.
 * - retryLater(delay, replacement): the replacement (retries+1) is sent with DelaySeconds, then
 *   the original deleted. Without one (an ETA not reached, a hand-back after an internal error),
 *   the same message is re-sent with DelaySeconds (up to 900 s: a longer ETA is reached in hops)
 *   and the original deleted. SQS counts every receive towards the RedrivePolicy's
 *   maxReceiveCount: hidden again and again, a message that only waits (for its ETA, for a
 *   result store to come back) would end in the DLQ unrun. The copy carries the deliveries so
 *   far (celeriac.deliveries), so receiveCount, and the executor's backoff, go on counting; a
 *   message without room for that attribute under the size cap is re-sent without it, and counts
 *   again from the copy's receives.
 *   ChangeMessageVisibility only hands a message back at once (delay 0), and on FIFO queues,
 *   which have no per-message delay and would put a copy at the end of its group: there each
 *   hand-back counts towards maxReceiveCount.
 * - deadLetter: sent to the queue's DLQ with the reason as attribute celeriac.reason (shortened, or
 *   left out, when the message would exceed the size cap), then deleted.
 */
import type { Message, MessageAttributeValue, SQSClient } from '@aws-sdk/client-sqs';
import { CeleriacError } from '../../core/errors.js';
import type { TaskMessage } from '../../core/message.js';
import type { Lease } from '../../core/pull-consumer.js';
import { resolveBody } from './claim-check.js';
import { MAX_DELAY_S, MAX_VISIBILITY_S, messageBytes, visibilitySeconds, wholeSeconds } from './limits.js';
import { type QueueDirectory, type SqsQueue, deadLetterName } from './queues.js';
import type { PublishBatches } from './publish-batches.js';
import { type Outgoing, type SendContext, toOutgoing } from './send.js';
import type { SettleBatches } from './settle-batches.js';

export const REASON_ATTRIBUTE = 'celeriac.reason';
/** On a re-sent copy: how many times the message was delivered before. */
export const DELIVERIES_ATTRIBUTE = 'celeriac.deliveries';

export interface LeaseContext extends SendContext {
  client: SQSClient;
  queues: QueueDirectory;
  settle: SettleBatches;
  publish: PublishBatches;
  visibilityTimeoutMs: number;
}

/**
 * An SQS lease always has a length: the visibility timeout each receive sets; and a receive time,
 * from which SQS's 12 h of visibility count.
 */
export type SqsLease = Lease & { leaseMs: number; receivedAt: number };

export interface Received {
  message: Message;
  /** The envelope (resolved through its claim check, if any). */
  raw: string;
  claimKey?: string;
  malformed?: string;
  /** When it was received (Date.now() ms), as near as the receiver can tell: SQS's 12 h of visibility count from its receive. */
  receivedAt: number;
}

/**
 * The lease for a received message, its claim check resolved. A claim-check store error
 * propagates (transient): the caller hands the message back or leaves it to its timeout.
 */
export async function leaseFor(queue: SqsQueue, message: Message, receivedAt: number, ctx: LeaseContext): Promise<SqsLease> {
  const resolved = await resolveBody(message.Body ?? '', message.MessageAttributes, ctx.claimCheck);
  return toLease(queue, { message, ...resolved, claimKey: resolved.key, receivedAt }, ctx);
}

export function toLease(queue: SqsQueue, r: Received, ctx: LeaseContext): SqsLease {
  const { message } = r;
  const handle = {
    queueUrl: queue.url,
    receiptHandle: message.ReceiptHandle as string,
  };
  const remove = async (): Promise<void> => {
    await ctx.settle.delete(handle);
  };
  /** Once the message is gone its stored payload is not needed; if this fails, its TTL removes it. */
  const dropClaim = async (): Promise<void> => {
    if (r.claimKey && ctx.claimCheck)
      await ctx
        .claimCheck()
        .then((store) => store.delete(r.claimKey as string))
        .catch(() => undefined);
  };
  const hide = (ms: number): Promise<void> =>
    ctx.settle.changeVisibility({
      ...handle,
      seconds: visibilitySeconds(ms, r.receivedAt),
    });
  /** The message exactly as received, to send again (a hop) or to the DLQ. */
  const asReceived = (extra: Record<string, MessageAttributeValue> = {}): Outgoing => ({
    body: message.Body ?? '',
    attributes: { ...message.MessageAttributes, ...extra },
    groupId: message.Attributes?.MessageGroupId,
    // A copy of one message is one message: its SQS id deduplicates it on FIFO queues.
    deduplicationId: queue.fifo ? message.MessageId : undefined,
    label: `message ${message.MessageId}`,
  });

  const receiveCount =
    Number(message.Attributes?.ApproximateReceiveCount ?? 1) +
    (Number(message.MessageAttributes?.[DELIVERIES_ATTRIBUTE]?.StringValue ?? 0) || 0);

  return {
    raw: r.raw,
    malformed: r.malformed,
    queue: queue.name,
    receiveCount,
    leaseMs: wholeSeconds(ctx.visibilityTimeoutMs, MAX_VISIBILITY_S) * 1000,
    receivedAt: r.receivedAt,
    async ack() {
      await remove();
      await dropClaim();
    },
    async extendLease(ms: number) {
      // Hidden for 0 s, it would be visible at once: with no time left, say why instead.
      if (visibilitySeconds(ms, r.receivedAt) === 0) {
        throw new CeleriacError(
          `SQS message ${message.MessageId} of '${queue.sqsName}' has been hidden for 12 h since it was received, the most SQS allows: its lease cannot be extended, and SQS delivers it again while its task runs. ` +
            'Split work that takes this long into shorter tasks.',
        );
      }
      await hide(ms);
    },
    async retryLater(delayMs: number, replacement?: TaskMessage) {
      if (replacement) {
        // Back to this queue, whatever exchange and routing key brought the message here.
        await ctx.publish.send(queue, [await toOutgoing(queue, replacement, ctx, delayMs)]);
        await remove();
        await dropClaim();
        return;
      }
      if (queue.fifo || delayMs <= 0) return hide(delayMs);
      const deliveries = String(receiveCount);
      const counted: Record<string, MessageAttributeValue> =
        roomFor(DELIVERIES_ATTRIBUTE, 'Number', asReceived(), ctx.maxMessageBytes) >= deliveries.length
          ? { [DELIVERIES_ATTRIBUTE]: { DataType: 'Number', StringValue: deliveries } }
          : {};
      await ctx.publish.send(queue, [{ ...asReceived(counted), delaySeconds: wholeSeconds(delayMs, MAX_DELAY_S) }]);
      await remove();
    },
    async deadLetter(reason: string) {
      const dlqUrl = await ctx.queues.deadLetterUrl(queue);
      const dlq: SqsQueue = {
        name: `${queue.name}-dlq`,
        sqsName: deadLetterName(queue.sqsName),
        url: dlqUrl,
        fifo: queue.fifo,
      };
      await ctx.publish.send(dlq, [asReceived(fitted(reason, asReceived(), ctx.maxMessageBytes))]);
      // The claim-check key stays: the dead letter still references it (until its TTL).
      await remove();
    },
  };
}

/**
 * The reason as an attribute, shortened only if the message would otherwise exceed the cap, and
 * left out when not even a shortened one fits (the message as received is what matters; the
 * executor logs the whole reason as it dead-letters). The cap is the URL's max_message_bytes:
 * the DLQ's MaximumMessageSize wherever celeriac made it (create=true, celeriac deploy), and
 * the worker does not read the attribute. SQS's own 1 MiB would be no safer: fitted to it, a
 * reason can push a message past a 256 KiB DLQ and fail the whole move.
 */
function fitted(reason: string, out: Outgoing, maxBytes: number): Record<string, MessageAttributeValue> {
  const room = roomFor(REASON_ATTRIBUTE, 'String', out, maxBytes);
  let value = reason;
  for (let bytes = Buffer.byteLength(value, 'utf8'); bytes > room; ) {
    const shorter = `${value.slice(0, Math.floor(value.length * 0.9))}…`;
    const shorterBytes = Buffer.byteLength(shorter, 'utf8');
    // Down to the last character and the ellipsis, it no longer shrinks: no room for a reason.
    if (shorterBytes >= bytes) return {};
    value = shorter;
    bytes = shorterBytes;
  }
  return { [REASON_ATTRIBUTE]: { DataType: 'String', StringValue: value } };
}

/** Bytes left under `maxBytes` for the value of attribute `name` of `dataType` set on `out` (in place of any it has). */
function roomFor(name: string, dataType: string, out: Outgoing, maxBytes: number): number {
  return maxBytes - messageBytes(out.body, { ...out.attributes, [name]: { DataType: dataType, StringValue: '' } });
}
