/**
 * Providers are found by URL scheme and loaded lazily, so a producer loads only the providers
 * its URLs name and core never imports a provider statically (DESIGN.md "Layers").
 */
import { ProviderError } from './errors.js';
import type { Broker, KeyValueStore, ProviderContext, ProviderFactories } from './ports.js';

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

/**
 * A URL with its password hidden, for banners, logs and errors: its own, and those of the URLs
 * its query carries, URL-encoded (a claim_check store).
 */
export function redact(url: string): string {
  // The user info ends at the last '@' before the path, query or fragment, as the WHATWG URL
  // parser (the providers') and kombu's maybe_sanitize_url read it: a password may hold '@'.
  const hidden = url.replace(/^([a-z][a-z0-9+.-]*:\/\/[^:/?#]*:)[^/?#]*@/i, '$1**@');
  const q = hidden.indexOf('?');
  if (q < 0) return hidden;
  const query = hidden
    .slice(q + 1)
    .split('&')
    .map((option) => {
      const eq = option.indexOf('=');
      const value = eq < 0 ? undefined : decoded(option.slice(eq + 1));
      if (value === undefined || !value.includes('://')) return option;
      const shown = redact(value);
      return shown === value ? option : `${option.slice(0, eq + 1)}${encodeURIComponent(shown)}`;
    });
  return `${hidden.slice(0, q + 1)}${query.join('&')}`;
}

function decoded(text: string): string | undefined {
  try {
    return decodeURIComponent(text);
  } catch {
    return undefined;
  }
}
