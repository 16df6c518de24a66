/** SQS service limits the provider obeys, and the size of a message as SQS counts it. */
import type { MessageAttributeValue } from '@aws-sdk/client-sqs';

/** SQS caps DelaySeconds at 900 s (15 minutes); a later ETA is reached in hops. */
export const MAX_DELAY_S = 900;
/** SQS caps a visibility timeout at 43,200 s (12 hours), counted from the message's receive. */
export const MAX_VISIBILITY_S = 43_200;
/** SendMessageBatch, DeleteMessageBatch and ReceiveMessage take at most 10 messages. */
export const MAX_BATCH = 10;
/** Long polling waits at most 20 s per ReceiveMessage. */
export const MAX_WAIT_S = 20;
/**
 * 256 KiB: the classic per-message and per-batch cap, which every queue accepts. Queues can be
 * raised to 1 MiB (AWS, 2025); say so with `max_message_bytes` in the URL.
 */
export const DEFAULT_MAX_MESSAGE_BYTES = 262_144;
/** Retention of a queue's dead letters when the provider creates it: the SQS maximum, 14 days. */
export const MAX_RETENTION_S = 1_209_600;

/** Seconds for an SQS delay or timeout: rounded up (never early), within [0, max]. */
export function wholeSeconds(ms: number, max: number): number {
  return Math.min(max, Math.max(0, Math.ceil(ms / 1000)));
}

/**
 * The VisibilityTimeout to ask for to hide a message received at `receivedAt` (Date.now() ms) for
 * `ms` more: SQS keeps a message hidden at most 12 h in all from its receive, and rejects a
 * ChangeMessageVisibility past that rather than trimming it. So a longer request is capped at
 * the time left, rounded down (0 once the 12 h are up).
 */
export function visibilitySeconds(ms: number, receivedAt: number): number {
  const asked = wholeSeconds(ms, MAX_VISIBILITY_S);
  const left = Math.floor(MAX_VISIBILITY_S - (Date.now() - receivedAt) / 1000);
  return asked <= left ? asked : Math.max(0, left);
}

/** What SQS counts against the size cap: the body plus each attribute's name, type and value (UTF-8). */
export function messageBytes(body: string, attributes: Record<string, MessageAttributeValue> = {}): number {
  let total = Buffer.byteLength(body, 'utf8');
  for (const [name, a] of Object.entries(attributes)) {
    total += Buffer.byteLength(name, 'utf8') + Buffer.byteLength(a.DataType ?? '', 'utf8');
    total += a.StringValue !== undefined ? Buffer.byteLength(a.StringValue, 'utf8') : (a.BinaryValue?.byteLength ?? 0);
  }
  return total;
}
