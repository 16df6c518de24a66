/**
 * Options every provider reads the same way: the visibility timeout of queue-like providers
 * (Celery's Redis transport option `visibility_timeout`, seconds, default 3600 — §2.2) from the
 * URL query or broker_transport_options, the URL winning; and a cloud service's `endpoint` and
 * `create` flag.
 */
import { didYouMean } from './config/closest.js';
import { ConfigError, OperationalError } from './errors.js';
import { redact } from './registry.js';

export const DEFAULT_VISIBILITY_TIMEOUT_S = 3600;

/** Splits `scheme://rest?query` without URL's host rules (a local:// path is not a host name). */
export function splitUrl(url: string): { scheme: string; rest: string; query: URLSearchParams } {
  const m = /^([a-z][a-z0-9+.-]*):\/\/([^?#]*)(?:\?([^#]*))?/i.exec(url);
  if (!m?.[1]) throw new ConfigError(`'${redact(url)}' is not a URL of the form scheme://...`);
  return { scheme: m[1].toLowerCase(), rest: m[2] ?? '', query: new URLSearchParams(m[3] ?? '') };
}

/** Refuses query parameters the provider does not know, naming the ones it does. */
export function checkQuery(url: string, query: URLSearchParams, known: readonly string[]): void {
  for (const key of query.keys()) {
    if (!known.includes(key)) {
      throw new ConfigError(`Unknown option '${key}' in '${redact(url)}'. Known options: ${known.join(', ') || '(none)'}.`);
    }
  }
}

/** What a broker reads of broker_transport_options, and the kombu options of its transport it does not support. */
export interface TransportOptionRules {
  /** 'SQS', 'Redis': named in the errors. */
  transport: string;
  /** The keys the broker reads. */
  read: readonly string[];
  /**
   * kombu's other options for this transport, each with what to do instead (null: nothing to say).
   * A key whose value `accepted` allows is let through: it asks for what celeriac does anyway.
   */
  unsupported: Readonly<Record<string, string | null>>;
  accepted?: (key: string, value: unknown) => boolean;
}

/**
 * Refuses broker_transport_options keys the broker does not read: dropped silently, a typo or a
 * kombu option would seem to be in effect. kombu's own options are named as unsupported; anything
 * else gets a 'did you mean' and the options the broker reads.
 */
export function checkTransportOptions(url: string, options: Record<string, unknown>, rules: TransportOptionRules): void {
  for (const [key, value] of Object.entries(options)) {
    if (rules.read.includes(key) || rules.accepted?.(key, value)) continue;
    const where = `broker_transport_options for '${redact(url)}'`;
    if (Object.hasOwn(rules.unsupported, key)) {
      const instead = rules.unsupported[key];
      throw new ConfigError(
        `${where}: '${key}' is a kombu ${rules.transport} option celeriac does not support${instead ? `: ${instead}` : ''}.`,
      );
    }
    const guess = didYouMean(key, [...rules.read, ...Object.keys(rules.unsupported)]);
    throw new ConfigError(
      `${where}: '${key}' is not an option of the ${rules.transport} broker.${guess} Options: ${rules.read.join(', ')}.`,
    );
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
  if (fromUrl !== null) return seconds(fromUrl, `visibility_timeout in '${redact(url)}'`) * 1000;
  const fromOptions = transportOptions.visibility_timeout;
  if (fromOptions !== undefined && fromOptions !== null) return seconds(fromOptions, 'broker_transport_options.visibility_timeout') * 1000;
  return DEFAULT_VISIBILITY_TIMEOUT_S * 1000;
}

/** The SDK client's region: the URL's, else (an emulator ignores it, the SDK needs one) us-east-1 when an endpoint is set and AWS_REGION is not. */
function sdkRegion(region: string | undefined, endpoint: string | undefined): string | undefined {
  return region ?? (endpoint && !process.env.AWS_REGION ? 'us-east-1' : undefined);
}

/**
 * What the SDK takes as a region: one hostname label (us-east-1, and for an emulator, whose
 * endpoint makes the region serve only for signing, 'local' too).
 */
const REGION = /^(?!-)[a-zA-Z0-9-]{1,63}(?<!-)$/;

/** An AWS region, checked when the URL is read: the SDK would refuse it only at the first request, with its stack. */
export function regionOption(url: string, region: string | undefined): string | undefined {
  if (region !== undefined && !REGION.test(region)) {
    throw new ConfigError(`region for '${redact(url)}' must be an AWS region such as us-east-1, got '${region}'`);
  }
  return region;
}

/** An emulator's endpoint, used instead of the cloud service's own: an http(s) URL such as `example`. */
export function endpointOption(url: string, endpoint: string | undefined, example: string): string | undefined {
  if (endpoint !== undefined && !(/^https?:\/\/[^/]+/i.test(endpoint) && URL.canParse(endpoint))) {
    throw new ConfigError(`endpoint for '${redact(url)}' must be an http(s) URL such as ${example}, got '${redact(endpoint)}'`);
  }
  return endpoint;
}

/**
 * Celery's sqs:// and dynamodb:// URLs may carry KEY:SECRET@; celeriac's do not. The error does
 * not echo the URL: a secret holding an unencoded '/' or '?' blurs where it ends.
 */
export function credentialsInUrl(scheme: string, form: string): ConfigError {
  return new ConfigError(
    `${scheme}:// URLs cannot carry AWS credentials: remove KEY:SECRET@ (celeriac's form is ${form}) and set them in the environment (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY), an AWS profile (AWS_PROFILE), or the role the code runs under.`,
  );
}

/** An AWS SDK client, as far as core sees one (core does not import the SDK). */
interface SdkClient {
  middlewareStack: object;
}

/** The part of the SDK's middleware stack used here: a middleware that passes its arguments through. */
interface MiddlewareStack {
  add(
    middleware: (next: (args: unknown) => Promise<unknown>) => (args: unknown) => Promise<unknown>,
    options: { step: 'initialize'; name: string },
  ): void;
}

/** The SDK's Node request handler options used here (@smithy/node-http-handler). */
interface RequestHandlerOptions {
  connectionTimeout: number;
  requestTimeout: number;
  throwOnRequestTimeout: true;
}

/**
 * How long a connection may take to open: a regional endpoint connects in milliseconds; 5 s
 * still covers two lost SYNs (Linux resends after 1 s, then 2 s more).
 */
const CONNECTION_TIMEOUT_MS = 5000;

/**
 * An AWS SDK client as the providers make them: the region and endpoint of their URL options,
 * errors explained (see explainSdkErrors), and timeouts. Without them the SDK waits forever
 * for an endpoint that accepts connections but never answers; with them such a request fails
 * with a TimeoutError, which the SDK retries (3 attempts) and then becomes an OperationalError,
 * so producers fail, and workers hand messages back, instead of hanging. `requestTimeoutMs`
 * bounds a whole request, connection included: each provider sets it above its slowest normal
 * answer.
 */
export function awsClient<C extends SdkClient>(
  Client: new (config: { region?: string; endpoint?: string; requestHandler: RequestHandlerOptions }) => C,
  url: string,
  options: { region?: string; endpoint?: string },
  service: string,
  requestTimeoutMs: number,
): C {
  const client = new Client({
    region: sdkRegion(options.region, options.endpoint),
    endpoint: options.endpoint,
    requestHandler: { connectionTimeout: CONNECTION_TIMEOUT_MS, requestTimeout: requestTimeoutMs, throwOnRequestTimeout: true },
  });
  explainSdkErrors(client, url, service);
  return client;
}

/** Network failures that mean the service cannot be reached (after the SDK's own retries). */
const UNREACHABLE = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH']);

/**
 * Makes a client's two most common set-up failures say what to do, for every call: no region
 * anywhere (the SDK's bare "Region is missing") becomes a ConfigError naming the URL and the
 * fix; a service that cannot be reached, an OperationalError naming the URL and the cause, as
 * the other brokers report it. Anything else passes as the SDK threw it.
 */
export function explainSdkErrors(client: SdkClient, url: string, service: string): void {
  (client.middlewareStack as MiddlewareStack).add(
    (next) => async (args) => {
      try {
        return await next(args);
      } catch (err) {
        const e = err as { message?: unknown; code?: unknown; name?: unknown };
        if (e?.message === 'Region is missing') {
          throw new ConfigError(
            `${service} needs an AWS region for '${redact(url)}': add ?region=us-east-1 (yours) to the URL, or set AWS_REGION.`,
            {
              cause: err,
            },
          );
        }
        // The SDK's connection timeout is a TimeoutError without a code (its request timeout has ETIMEDOUT).
        if ((typeof e?.code === 'string' && UNREACHABLE.has(e.code)) || e?.name === 'TimeoutError') {
          throw new OperationalError(`Cannot reach ${service} for '${redact(url)}': ${String(e.message)}`, { cause: err });
        }
        throw err;
      }
    },
    { step: 'initialize', name: 'celeriacExplainErrors' },
  );
}

/**
 * `create`: make what is missing (queues, tables) — development only. true/1 or false/0, absent
 * is false. A bare `?create` is refused like any other value that is neither: read as false, it
 * would silently not create what its writer asked for.
 */
export function createOption(url: string, query: URLSearchParams): boolean {
  const value = query.get('create');
  if (value === null || value === 'false' || value === '0') return false;
  if (value === 'true' || value === '1') return true;
  throw new ConfigError(`create for '${redact(url)}' must be true or false, got '${value}'`);
}
