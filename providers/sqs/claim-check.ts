/**
 * Claim check (the "store aside and reference" pattern): an envelope over the queue's size cap is
 * put into a KeyValueStore (the result store, e.g. dynamodb://) under its own key, and the SQS
 * message carries only a small reference. The provider resolves it on receive — before the
 * executor or a Lambda handler sees the delivery — so everything above sees the original
 * envelope:
 *
 *   body:       {"celeriac_claim_check": KEY, "bytes": N, "task": NAME, "id": ID}
 *   attribute:  celeriac.claim-check = KEY   (what the receiver looks for)
 *
 * The key lives as long as SQS can keep a message (14 days); it is deleted when the message is
 * acked. A key that is gone (expired, or a duplicate delivery after the ack) makes the delivery
 * malformed with that reason, so it is dead-lettered, never run with a wrong payload. Note
 * DynamoDB items are at most 400 KB: a store for bigger payloads would be an object store.
 */
import { randomUUID } from 'node:crypto';
import type { MessageAttributeValue } from '@aws-sdk/client-sqs';
import type { KeyValueStore } from '../../core/ports.js';
import { redact } from '../../core/registry.js';
import { MAX_RETENTION_S } from './limits.js';

export const CLAIM_CHECK_ATTRIBUTE = 'celeriac.claim-check';

export interface CheckedIn {
  body: string;
  key: string;
}

/** Store an envelope aside; returns the reference body and the key for the message attribute. */
export async function checkIn(store: KeyValueStore, raw: string, info: { task: string; id: string }): Promise<CheckedIn> {
  const key = `celeriac-claim-check-${info.id}-${randomUUID()}`;
  await store.put(key, raw, {
    ttlMs: MAX_RETENTION_S * 1000,
    ready: false,
    keepReady: false,
    failWhenUnreachable: true,
  });
  const body = JSON.stringify({
    celeriac_claim_check: key,
    bytes: Buffer.byteLength(raw, 'utf8'),
    task: info.task,
    id: info.id,
  });
  return { body, key };
}

export type Resolved = { raw: string; key?: string } | { raw: string; key: string; malformed: string };

/**
 * The envelope an SQS message stands for: its body, or the stored envelope its claim-check
 * attribute names. Store errors propagate (transient: the caller hands the message back).
 */
export async function resolveBody(
  body: string,
  attributes: Record<string, MessageAttributeValue | { stringValue?: string }> | undefined,
  /** The store, or a function opening it (so a store is opened only when a message needs it). */
  source: KeyValueStore | (() => Promise<KeyValueStore>) | undefined,
): Promise<Resolved> {
  // The SDK spells it StringValue; a Lambda SQS event record, stringValue.
  const attribute = attributes?.[CLAIM_CHECK_ATTRIBUTE] as { StringValue?: string; stringValue?: string } | undefined;
  const key = attribute?.StringValue ?? attribute?.stringValue;
  if (key === undefined) return { raw: body };
  if (!source) {
    return {
      raw: body,
      key,
      malformed: `malformed message: it references claim check '${key}', but this broker has no claim_check store configured`,
    };
  }
  const store = typeof source === 'function' ? await source() : source;
  const raw = await store.get(key);
  if (raw === undefined) {
    return {
      raw: body,
      key,
      malformed: `malformed message: its claim check '${key}' is not in ${redact(store.url)} (expired, or deleted when a copy of this message was acked)`,
    };
  }
  return { raw, key };
}
