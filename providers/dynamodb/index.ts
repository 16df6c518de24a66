/**
 * dynamodb:// — Amazon DynamoDB as the result store (DESIGN.md: a key-value store is the result
 * backend). core's KeyValueResultBackend builds Celery's result semantics on it.
 *
 *   dynamodb://celeriac-results?region=us-east-1
 *   dynamodb://results?endpoint=http://127.0.0.1:8000&create=true     an emulator; table created
 *
 * `@aws-sdk/client-dynamodb` is an optional peer dependency: it is imported only here, and this
 * module is loaded only when a URL names dynamodb://.
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { ProviderFactories } from '../../core/ports.js';
import { parseDynamoDbUrl } from './options.js';
import { DynamoDbStore } from './store.js';
import { MAX_KEY_BYTES } from './table.js';

export { type DynamoDbOptions, parseDynamoDbUrl } from './options.js';
export { DynamoDbStore } from './store.js';
export { ensureTable } from './create-table.js';
export { TTL_ATTRIBUTE } from './table.js';

export interface DynamoDbStoreOptions {
  /** A client to use (a Lambda's shared client, or one with request counting); else one is made from the URL. */
  client?: DynamoDBClient;
}

export function dynamoDbStore(url: string, options: DynamoDbStoreOptions = {}): DynamoDbStore {
  return new DynamoDbStore(url, parseDynamoDbUrl(url), options.client);
}

export const provider: ProviderFactories = {
  store: (url) => dynamoDbStore(url),
  maxKeyBytes: MAX_KEY_BYTES,
};
