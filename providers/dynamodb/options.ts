/**
 * dynamodb:// URL options, validated once at the edge:
 *
 *   dynamodb://TABLE?region=us-east-1&endpoint=http://127.0.0.1:8000&create=true
 *
 * TABLE is the results table (partition key `pk`, a string). region (else the SDK's default
 * chain: AWS_REGION...), endpoint (an emulator; else AWS), create (create the table, with TTL on
 * `expires_at`, when it is missing — development only; otherwise a missing table is an error).
 */
import { ConfigError } from '../../core/errors.js';
import { checkQuery, createOption, credentialsInUrl, endpointOption, regionOption, splitUrl } from '../../core/provider-options.js';
import { redact } from '../../core/registry.js';
import { unquote } from '../../core/unquote.js';

export interface DynamoDbOptions {
  table: string;
  region?: string;
  endpoint?: string;
  create: boolean;
}

/** DynamoDB table names: 3–255 letters, digits, '_', '-' and '.'. */
const TABLE_NAME = /^[A-Za-z0-9_.-]{3,255}$/;

export function parseDynamoDbUrl(url: string): DynamoDbOptions {
  const { scheme, rest, query } = splitUrl(url);
  if (scheme !== 'dynamodb') throw new ConfigError(`'${redact(url)}' is not a dynamodb:// URL`);
  // Celery's form dynamodb://KEY:SECRET@REGION/TABLE, refused before any error could quote it (a
  // '?' in the secret moves the rest to the query, hence the ':' a table name never has).
  if (rest.includes('@') || (rest.includes(':') && url.includes('@')))
    throw credentialsInUrl('dynamodb', 'dynamodb://TABLE?region=us-east-1');
  checkQuery(url, query, ['region', 'endpoint', 'create']);
  const table = unquote(rest.replace(/\/$/, ''));
  if (!TABLE_NAME.test(table)) {
    throw new ConfigError(
      `'${redact(url)}' must name the results table: dynamodb://TABLE?region=..., where TABLE is 3–255 letters, digits, '_', '-' or '.' (got '${table}')`,
    );
  }
  return {
    table,
    region: regionOption(url, query.get('region') || undefined),
    endpoint: endpointOption(url, query.get('endpoint') || undefined, 'http://127.0.0.1:8000'),
    create: createOption(url, query),
  };
}
