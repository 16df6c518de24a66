/**
 * The results table: created only when the URL says create=true (development, create-table.ts);
 * otherwise a missing table is a ConfigError naming it and the flag.
 */
import { ResourceNotFoundException } from '@aws-sdk/client-dynamodb';
import { ConfigError } from '../../core/errors.js';
import { redact } from '../../core/registry.js';

/** DynamoDB's limit on a partition key value: 2048 bytes. */
export const MAX_KEY_BYTES = 2048;

/** The TTL attribute: epoch seconds, as DynamoDB's TTL requires. */
export const TTL_ATTRIBUTE = 'expires_at';

export const isMissingTable = (err: unknown): boolean =>
  err instanceof ResourceNotFoundException || (err as Error)?.name === 'ResourceNotFoundException';

/** The key DynamoDB is asked for is not the table's key (AWS and dynalite word it so). */
export const isWrongKeySchema = (err: unknown): boolean =>
  (err as Error)?.name === 'ValidationException' &&
  /provided key element does not match the schema|Missing the key \S+ in the item|Type mismatch for key/.test((err as Error).message);

/** `keyedOn`: the table's key, when known (e.g. 'id (HASH)': Celery's own DynamoDB backend keys its table on id). */
export function wrongKeySchema(table: string, endpoint: string | undefined, cause: unknown, keyedOn?: string): ConfigError {
  return new ConfigError(
    `The DynamoDB table '${table}'${endpoint ? ` at ${redact(endpoint)}` : ''} ${keyedOn ? `is keyed on ${keyedOn}` : 'has another key'}: celeriac's results table needs the partition key 'pk' of type S and no sort key. Give celeriac a table of its own (a table made for Celery's DynamoDB backend, keyed on 'id', will not do).`,
    { cause },
  );
}

export function missingTable(table: string, endpoint: string | undefined, cause: unknown): ConfigError {
  return new ConfigError(
    `The DynamoDB table '${table}'${endpoint ? ` at ${redact(endpoint)}` : ''} does not exist. Create it (partition key 'pk' of type S, TTL on '${TTL_ATTRIBUTE}'), or add create=true to the dynamodb:// URL to create it (development only).`,
    { cause },
  );
}
