/**
 * Providers are found by URL scheme and loaded lazily, so a producer loads only the providers
 * its URLs name and core never imports a provider statically (DESIGN.md "Layers").
 */
import { isPlainObject } from './config/checks.js';
import { ProviderError } from './errors.js';
import type { Broker, KeyValueStore, ProviderContext, ProviderFactories } from './ports.js';
import { unquote } from './unquote.js';

type Loader = () => Promise<ProviderFactories>;

const loaders = new Map<string, Loader>([
  ['memory', () => import('../providers/memory/index.js').then((m) => m.provider)],
  ['local', () => import('../providers/local/index.js').then((m) => m.provider)],
  ['sqs', () => import('../providers/sqs/index.js').then((m) => m.provider)],
  ['dynamodb', () => import('../providers/dynamodb/index.js').then((m) => m.provider)],
  ...(['redis', 'rediss'] as const).map((s): [string, Loader] => [s, () => import('../providers/redis/index.js').then((m) => m.provider)]),
]);

/** Register a provider for one or more URL schemes (third-party transports and stores). */
export function registerProvider(schemes: string[], factories: ProviderFactories | Loader): void {
  const loader = typeof factories === 'function' ? factories : async () => factories;
  for (const scheme of schemes) loaders.set(scheme, loader);
}

export function schemeOf(url: string): string {
  const m = /^([a-z][a-z0-9+.-]*):/i.exec(url);
  if (!m?.[1]) {
    throw new ProviderError(
      `'${redact(url)}' is not a URL: expected scheme://..., for example local://.celeriac or redis://localhost:6379/0`,
    );
  }
  return m[1].toLowerCase();
}

async function factoriesFor(url: string): Promise<ProviderFactories> {
  const scheme = schemeOf(url);
  const loader = loaders.get(scheme);
  if (!loader) {
    throw new ProviderError(
      `No provider for '${scheme}://' (from '${redact(url)}'). Known schemes: ${[...loaders.keys()].sort().join(', ')}.`,
    );
  }
  try {
    return await loader();
  } catch (err) {
    throw new ProviderError(`The provider for '${scheme}://' could not be loaded: ${(err as Error).message}`, { cause: err });
  }
}

export async function openBroker(url: string, ctx: ProviderContext): Promise<Broker> {
  const f = await factoriesFor(url);
  if (!f.broker)
    throw new ProviderError(
      `'${schemeOf(url)}://' is a result store, not a broker: set broker_url to a transport such as local:// or redis://.`,
    );
  return f.broker(url, ctx);
}

export async function openStore(url: string, ctx: ProviderContext): Promise<KeyValueStore> {
  const f = await factoriesFor(url);
  if (!f.store)
    throw new ProviderError(`'${schemeOf(url)}://' cannot store results: set result_backend to a store such as local:// or redis://.`);
  return f.store(url, ctx);
}

/** The longest key the store at `url` can hold (ProviderFactories.maxKeyBytes), without opening it. */
export async function storeMaxKeyBytes(url: string): Promise<number | undefined> {
  return (await factoriesFor(url)).maxKeyBytes;
}

/** Query options whose values are secrets: passwords, tokens, keys, signatures (X-Amz-Signature...). */
const SECRET_OPTION = /pass|token|secret|signature|credential|auth|key(?!prefix|file)/i;
const SCHEME = /[a-z][a-z0-9+.-]*:\/\//gi;
const MASK = '**';

/**
 * `text` with every secret a URL in it carries hidden, for banners, logs and errors: the password
 * of each URL found anywhere in it (a list such as Celery's failover 'redis://...;redis://...',
 * URLs inside a message), the values of query options named like secrets (password=, token=,
 * X-Amz-Signature=), and the same in the URLs a query carries (a claim_check store), URL-encoded
 * or not. Where a URL is ambiguous, more is hidden rather than less.
 */
export function redact(text: string): string {
  return text.replace(/\S+/g, (word) => {
    const starts = [...word.matchAll(SCHEME)].map((m) => m.index);
    // No URL: still a 'user:password@host' written without its scheme (an endpoint mistyped).
    if (starts.length === 0) return word.replace(/^([^:@]*:).*@/, `$1${MASK}@`);
    // A URL ends where the next one starts: a password is not expected to hold '://'.
    const urls = starts.map((start, i) => redactUrl(word.slice(start, starts[i + 1])));
    return word.slice(0, starts[0]) + urls.join('');
  });
}

function redactUrl(url: string): string {
  const authority = url.indexOf('://') + 3;
  // The user info ends at the LAST '@': a password may hold '@', and unencoded '/', '?' or '#'
  // too, which a URL parser would take for the end of the host (kombu's sanitizing would show it).
  const at = url.lastIndexOf('@');
  const colon = url.indexOf(':', authority);
  const masked = at > colon && colon >= 0 ? `${url.slice(0, colon + 1)}${MASK}@` : url.slice(0, authority);
  const rest = url.slice(masked.length === authority ? authority : at + 1);
  const q = rest.indexOf('?');
  if (q < 0) return masked + rest;
  const query = rest
    .slice(q + 1)
    .split('&')
    .map((option) => {
      const eq = option.indexOf('=');
      if (eq < 0) return option;
      const value = option.slice(eq + 1);
      // A secret's value up to the quotes or brackets the URL is written in.
      if (SECRET_OPTION.test(option.slice(0, eq))) return `${option.slice(0, eq + 1)}${value.replace(/^.*?(?=['"`)\]}>,;]*$)/s, MASK)}`;
      const decoded = unquote(value);
      if (!decoded.includes('://')) return option;
      const shown = redact(decoded);
      return shown === decoded ? option : `${option.slice(0, eq + 1)}${encodeURIComponent(shown)}`;
    });
  return `${masked}${rest.slice(0, q + 1)}${query.join('&')}`;
}

/** Celery's HIDDEN_SETTINGS pattern (celery/app/utils.py): a setting or option so named holds a secret. */
const HIDDEN_SETTING = /API|TOKEN|KEY|SECRET|PASS|SIGNATURE|DATABASE/i;
const HIDDEN_MASK = '********';

/**
 * A setting's value with its secrets hidden, as Celery's filter_hidden_settings hides them, in
 * nested objects too (broker_transport_options): the value of a key named like a secret is
 * masked, and every string is redacted.
 */
export function redactValue(value: unknown): unknown {
  if (typeof value === 'string') return redact(value);
  if (Array.isArray(value)) return value.map(redactValue);
  if (!isPlainObject(value)) return value;
  return Object.fromEntries(
    Object.entries(value).map(([key, v]) => [key, HIDDEN_SETTING.test(key) && !isPlainObject(v) ? HIDDEN_MASK : redactValue(v)]),
  );
}
