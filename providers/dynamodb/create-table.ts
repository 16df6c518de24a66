/**
 * Creating the results table (create=true, development only). Its own module, loaded by the
 * store with import() on first use: a producer or a Lambda that never creates a table carries
 * none of these table-management requests.
 */
import { CreateTableCommand, DescribeTableCommand, type DynamoDBClient, UpdateTimeToLiveCommand } from '@aws-sdk/client-dynamodb';
import { TTL_ATTRIBUTE, isMissingTable, wrongKeySchema } from './table.js';

/** How long to wait for a new table to become ACTIVE (AWS: seconds; emulators: at once). */
const ACTIVE_TIMEOUT_MS = 120_000;

export type TimeToLive = 'enabled' | 'unsupported';

/**
 * Create the table if it is missing, wait until it is ACTIVE, and turn on TTL. Returns whether
 * TTL could be enabled: dynalite has no UpdateTimeToLive; reads treat expired items as gone
 * either way, so results still expire, only their deletion is left undone.
 */
export async function ensureTable(client: DynamoDBClient, table: string, endpoint?: string): Promise<TimeToLive> {
  try {
    const { Table } = await client.send(new DescribeTableCommand({ TableName: table }));
    const key = Table?.KeySchema ?? [];
    if (key.length !== 1 || key[0]?.AttributeName !== 'pk') {
      throw wrongKeySchema(table, endpoint, undefined, key.map((k) => `'${k.AttributeName}' (${k.KeyType})`).join(' and '));
    }
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
