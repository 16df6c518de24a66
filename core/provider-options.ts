/**
 * Options every queue-like provider reads the same way: the visibility timeout (Celery's Redis
 * transport option `visibility_timeout`, seconds, default 3600 — §2.2) from the URL query or
 * broker_transport_options, the URL winning.
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

function seconds(value: unknown, where: string): number {
  const n = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isFinite(n) || n <= 0) {
    throw new ConfigError(`${where} must be a positive number of seconds, got ${JSON.stringify(value)}`);
  }
  return n;
}

export function visibilityTimeoutMs(url: string, query: URLSearchParams, transportOptions: Record<string, unknown>): number {
  const fromUrl = query.get('visibility_timeout');
  if (fromUrl !== null) return seconds(fromUrl, `visibility_timeout in '${url}'`) * 1000;
  const fromOptions = transportOptions.visibility_timeout;
  if (fromOptions !== undefined && fromOptions !== null) return seconds(fromOptions, 'broker_transport_options.visibility_timeout') * 1000;
  return DEFAULT_VISIBILITY_TIMEOUT_S * 1000;
}
