/**
 * The results table: created only when the URL says create=true (development); otherwise a
 * missing table is a ConfigError naming it and the flag.
 */
import {
  CreateTableCommand,
  DescribeTableCommand,
  type DynamoDBClient,
  ResourceNotFoundException,
  UpdateTimeToLiveCommand,
} from '@aws-sdk/client-dynamodb';
import { ConfigError } from '../../core/errors.js';

/** The TTL attribute: epoch seconds, as DynamoDB's TTL requires. */
export const TTL_ATTRIBUTE = 'expires_at';

/** How long to wait for a new table to become ACTIVE (AWS: seconds; emulators: at once). */
const ACTIVE_TIMEOUT_MS = 120_000;

export const isMissingTable = (err: unknown): boolean =>
  err instanceof ResourceNotFoundException || (err as Error)?.name === 'ResourceNotFoundException';

export function missingTable(table: string, endpoint: string | undefined, cause: unknown): ConfigError {
  return new ConfigError(
    `The DynamoDB table '${table}'${endpoint ? ` at ${endpoint}` : ''} does not exist. Create it (partition key 'pk' of type S, TTL on '${TTL_ATTRIBUTE}'), or add create=true to the dynamodb:// URL to create it (development only).`,
    { cause },
  );
}

export type TimeToLive = 'enabled' | 'unsupported';

/**
 * Create the table if it is missing, wait until it is ACTIVE, and turn on TTL. Returns whether
 * TTL could be enabled: dynalite has no UpdateTimeToLive; reads treat expired items as gone
 * either way, so results still expire, only their deletion is left undone.
 */
export async function ensureTable(client: DynamoDBClient, table: string): Promise<TimeToLive> {
  try {
    await client.send(new DescribeTableCommand({ TableName: table }));
    return 'enabled';
  } catch (err) {
    if (!isMissingTable(err)) throw err;
  }
  try {
    await client.send(
      new CreateTableCommand({
        TableName: table,
        AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }],
        KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
        BillingMode: 'PAY_PER_REQUEST',
      }),
    );
  } catch (err) {
    // Another process created it first.
    if ((err as Error).name !== 'ResourceInUseException') throw err;
  }
  await waitActive(client, table);
  try {
    await client.send(
      new UpdateTimeToLiveCommand({
        TableName: table,
        TimeToLiveSpecification: {
          AttributeName: TTL_ATTRIBUTE,
          Enabled: true,
        },
      }),
    );
    return 'enabled';
  } catch (err) {
    const name = (err as Error).name;
    if (name === 'UnknownOperationException') return 'unsupported';
    // Already enabled (by a racing process): fine.
    if (name === 'ValidationException' && /already enabled/i.test((err as Error).message)) return 'enabled';
    throw err;
  }
}

async function waitActive(client: DynamoDBClient, table: string): Promise<void> {
  const deadline = Date.now() + ACTIVE_TIMEOUT_MS;
  for (let delay = 50; ; delay = Math.min(2000, delay * 2)) {
    const out = await client.send(new DescribeTableCommand({ TableName: table }));
    if (out.Table?.TableStatus === 'ACTIVE') return;
    if (Date.now() > deadline) throw new Error(`DynamoDB table '${table}' was not ACTIVE within ${ACTIVE_TIMEOUT_MS / 1000} s`);
    await new Promise((r) => setTimeout(r, delay));
  }
}
