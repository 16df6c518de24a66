/**
 * Options every provider reads the same way: the visibility timeout of queue-like providers
 * (Celery's Redis transport option `visibility_timeout`, seconds, default 3600 — §2.2) from the
 * URL query or broker_transport_options, the URL winning; and a cloud service's `endpoint` and
 * `create` flag.
 */
import { ConfigError } from './errors.js';

export const DEFAULT_VISIBILITY_TIMEOUT_S = 3600;

/** Splits `scheme://rest?query` without URL's host rules (a local:// path is not a host name). */
export function splitUrl(url: string): { scheme: string; rest: string; query: URLSearchParams } {
  const m = /^([a-z][a-z0-9+.-]*):\/\/([^?#]*)(?:\?([^#]*))?/i.exec(url);
  if (!m?.[1]) throw new ConfigError(`'${url}' is not a URL of the form scheme://...`);
  return { scheme: m[1].toLowerCase(), rest: m[2] ?? '', query: new URLSearchParams(m[3] ?? '') };
}

/** Refuses query parameters the provider does not know, naming the ones it does. */
export function checkQuery(url: string, query: URLSearchParams, known: readonly string[]): void {
  for (const key of query.keys()) {
    if (!known.includes(key)) {
      throw new ConfigError(`Unknown option '${key}' in '${url}'. Known options: ${known.join(', ') || '(none)'}.`);
    }
  }
}

/**
 * A number option, given as a number (broker_transport_options) or as text (a URL query);
 * refused, naming `where` and what it must be, unless finite and `ok`.
 */
export function numberOption(value: unknown, where: string, ok: (n: number) => boolean, expected: string): number {
  const n = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isFinite(n) || !ok(n))
    throw new ConfigError(`${where} must be ${expected}, got ${JSON.stringify(value)}`);
  return n;
}

export function seconds(value: unknown, where: string): number {
  return numberOption(value, where, (n) => n > 0, 'a positive number of seconds');
}

export function visibilityTimeoutMs(url: string, query: URLSearchParams, transportOptions: Record<string, unknown>): number {
  const fromUrl = query.get('visibility_timeout');
  if (fromUrl !== null) return seconds(fromUrl, `visibility_timeout in '${url}'`) * 1000;
  const fromOptions = transportOptions.visibility_timeout;
  if (fromOptions !== undefined && fromOptions !== null) return seconds(fromOptions, 'broker_transport_options.visibility_timeout') * 1000;
  return DEFAULT_VISIBILITY_TIMEOUT_S * 1000;
}

/** The SDK client's region: the URL's, else (an emulator ignores it, the SDK needs one) us-east-1 when an endpoint is set and AWS_REGION is not. */
export function sdkRegion(region: string | undefined, endpoint: string | undefined): string | undefined {
  return region ?? (endpoint && !process.env.AWS_REGION ? 'us-east-1' : undefined);
}

/** An emulator's endpoint, used instead of the cloud service's own: an http(s) URL such as `example`. */
export function endpointOption(url: string, endpoint: string | undefined, example: string): string | undefined {
  if (endpoint !== undefined && !/^https?:\/\/[^/]+/i.test(endpoint)) {
    throw new ConfigError(`endpoint for '${url}' must be an http(s) URL such as ${example}, got '${endpoint}'`);
  }
  return endpoint;
}

/** `create`: make what is missing (queues, tables) — development only. true/1 or false/0; absent or empty is false. */
export function createOption(url: string, query: URLSearchParams): boolean {
  const value = query.get('create');
  if (value === null || value === '' || value === 'false' || value === '0') return false;
  if (value === 'true' || value === '1') return true;
  throw new ConfigError(`create for '${url}' must be true or false, got '${value}'`);
}
