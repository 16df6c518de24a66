/**
 * The results table: created only when the URL says create=true (development, create-table.ts);
 * otherwise a missing table is a ConfigError naming it and the flag.
 */
import { ResourceNotFoundException } from '@aws-sdk/client-dynamodb';
import { ConfigError } from '../../core/errors.js';

/** The TTL attribute: epoch seconds, as DynamoDB's TTL requires. */
export const TTL_ATTRIBUTE = 'expires_at';

export const isMissingTable = (err: unknown): boolean =>
  err instanceof ResourceNotFoundException || (err as Error)?.name === 'ResourceNotFoundException';

export function missingTable(table: string, endpoint: string | undefined, cause: unknown): ConfigError {
  return new ConfigError(
    `The DynamoDB table '${table}'${endpoint ? ` at ${endpoint}` : ''} does not exist. Create it (partition key 'pk' of type S, TTL on '${TTL_ATTRIBUTE}'), or add create=true to the dynamodb:// URL to create it (development only).`,
    { cause },
  );
}
