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
import { checkQuery, splitUrl } from '../../core/provider-options.js';

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
  if (scheme !== 'dynamodb') throw new ConfigError(`'${url}' is not a dynamodb:// URL`);
  checkQuery(url, query, ['region', 'endpoint', 'create']);
  const table = decodeURIComponent(rest.replace(/\/$/, ''));
  if (!TABLE_NAME.test(table)) {
    throw new ConfigError(
      `'${url}' must name the results table: dynamodb://TABLE?region=..., where TABLE is 3–255 letters, digits, '_', '-' or '.' (got '${table}')`,
    );
  }
  const endpoint = query.get('endpoint') || undefined;
  if (endpoint !== undefined && !/^https?:\/\/[^/]+/i.test(endpoint)) {
    throw new ConfigError(`endpoint for '${url}' must be an http(s) URL such as http://127.0.0.1:8000, got '${endpoint}'`);
  }
  const create = query.get('create');
  if (create !== null && !['', 'true', 'false', '1', '0'].includes(create)) {
    throw new ConfigError(`create for '${url}' must be true or false, got '${create}'`);
  }
  return {
    table,
    region: query.get('region') || undefined,
    endpoint,
    create: create === 'true' || create === '1',
  };
}
