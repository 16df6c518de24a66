/**
 * How many times a message has been delivered, kept in the envelope itself so it survives a
 * restore by either language. kombu only marks a restored envelope `redelivered` (headers and
 * delivery_info, §2.4); celeriac also counts, in `properties.celeriac_receive_count` (kombu and
 * Celery ignore unknown properties and keep them on restore).
 */
import { stringify } from '../../core/serialization.js';

type Obj = Record<string, unknown>;

const COUNT = 'celeriac_receive_count';
/** On an envelope kept in unacked until it is due (delay-message.ts): its restore is not a redelivery. */
const HELD = 'celeriac_held';
export const isObject = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Cheap test before parsing: only a handed-back envelope carries either mark. */
export const mayBeRedelivered = (raw: string): boolean => raw.includes('redelivered') || raw.includes(COUNT);

/** Deliveries before the current one. */
export function previousDeliveries(env: Obj): number {
  const props = isObject(env.properties) ? env.properties : {};
  const count = props[COUNT];
  if (typeof count === 'number' && Number.isInteger(count) && count >= 0) return count;
  const headers = isObject(env.headers) ? env.headers : {};
  return headers.redelivered === true ? 1 : 0;
}

/** The envelope as a consumer sees it: kombu's transport marks removed, so the task's headers are what was sent. */
export function withoutMarks(env: Obj): Obj {
  const headers = isObject(env.headers) ? { ...env.headers } : env.headers;
  if (isObject(headers)) delete headers.redelivered;
  const props = isObject(env.properties) ? { ...env.properties } : env.properties;
  if (isObject(props)) {
    delete props[COUNT];
    delete props[HELD];
    if (isObject(props.delivery_info)) {
      const info = { ...props.delivery_info };
      delete info.redelivered;
      props.delivery_info = info;
    }
  }
  return { ...env, headers, properties: props };
}

/** The envelope handed back after `deliveries` deliveries: marked redelivered as kombu does, and counted. */
export function markRedelivered(env: Obj, deliveries: number): Obj {
  const out: Obj = { ...env };
  if (isObject(env.headers)) out.headers = { ...env.headers, redelivered: true };
  if (isObject(env.properties)) {
    const props: Obj = { ...env.properties, [COUNT]: deliveries };
    if (isObject(props.delivery_info)) props.delivery_info = { ...props.delivery_info, redelivered: true };
    out.properties = props;
  }
  return out;
}

/**
 * An envelope to keep in unacked until due: its restore then counts no delivery (held, not lost).
 * Throws a SerializationError when it cannot be written again (nested too deeply), as every re-encoding here does.
 */
export function markHeld(raw: string): string {
  const env = parseObject(raw);
  return env && isObject(env.properties) ? reencoded({ ...env, properties: { ...env.properties, [HELD]: true } }) : raw;
}

/** An envelope read and marked, as text again; a SerializationError when it cannot be (a header nested too deeply for JSON). */
export const reencoded = (env: Obj): string => stringify(env, 'the envelope');

/** The envelope a restore puts back: a lost lease's marked redelivered and counted, a held one as it was. */
export function restored(env: Obj): Obj {
  const props = isObject(env.properties) ? env.properties : undefined;
  if (props?.[HELD] !== true) return markRedelivered(env, previousDeliveries(env) + 1);
  const { [HELD]: _held, ...rest } = props;
  return { ...env, properties: rest };
}

/** Parse an envelope that is a JSON object, else undefined (garbage is delivered as malformed, not here). */
export function parseObject(raw: string): Obj | undefined {
  try {
    const v: unknown = JSON.parse(raw);
    return isObject(v) ? v : undefined;
  } catch {
    return undefined;
  }
}

/** Cheap test before parsing for the ETA (`headers.eta`, §1.1): a string value after the first "eta" key. */
export function mayHaveEta(raw: string): boolean {
  const at = raw.indexOf('"eta":');
  if (at < 0) return false;
  const next = raw.charCodeAt(at + 6) === 32 ? at + 7 : at + 6; // kombu writes '"eta": "...', celeriac '"eta":"...'
  return raw.charCodeAt(next) === 34;
}

export function etaOf(env: Obj): string | undefined {
  const headers = isObject(env.headers) ? env.headers : undefined;
  return typeof headers?.eta === 'string' ? headers.eta : undefined;
}
