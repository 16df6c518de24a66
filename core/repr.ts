/**
 * Python-style repr of JSON-like values, for argsrepr/kwargsrepr (§1.1) and log lines, so a
 * message sent from TypeScript reads in Flower and in Celery's logs the way Python's does.
 */
const MAX_REPR = 1024; // Celery truncates argsrepr/kwargsrepr and result reprs to 1024 characters (§1.1).

export function pyRepr(value: unknown): string {
  return reprAt(value, 0);
}

/**
 * `value`'s repr, nested `depth` deep. Past MAX_REPR levels a container is written '...': each
 * level writes at least one character before it, so what is cut is past the length the reprs are
 * truncated to, and a value nested too deeply for the stack (its JSON still readable) is shown, not thrown on.
 */
function reprAt(value: unknown, depth: number): string {
  if (value === null || value === undefined) return 'None';
  if (value === true) return 'True';
  if (value === false) return 'False';
  if (typeof value === 'string') return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'").replace(/\n/g, '\\n')}'`;
  if (typeof value === 'number' || typeof value === 'bigint') return String(value);
  if (value instanceof Date) return pyRepr(value.toISOString());
  if (value instanceof Error) return errorRepr(value);
  if (typeof value === 'object' && depth > MAX_REPR) return '...';
  if (Array.isArray(value)) return `[${value.map((item) => reprAt(item, depth + 1)).join(', ')}]`;
  if (typeof value === 'object') {
    return `{${Object.entries(value as Record<string, unknown>)
      .map(([k, v]) => `${pyRepr(k)}: ${reprAt(v, depth + 1)}`)
      .join(', ')}}`;
  }
  return String(value);
}

/** Positional args as Python prints a tuple: `(4, 4)`, `(4,)`, `()`. */
export function argsRepr(args: readonly unknown[]): string {
  const inner = args.map(pyRepr).join(', ');
  return truncate(args.length === 1 ? `(${inner},)` : `(${inner})`);
}

export function kwargsRepr(kwargs: Record<string, unknown>): string {
  return truncate(pyRepr(kwargs));
}

/** A task's result as Celery shows it in task-succeeded events and the log (saferepr, resultrepr_maxsize 1024). */
export function resultRepr(value: unknown): string {
  return truncate(pyRepr(value));
}

/** `Error('boom')`, as Celery logs an exception. */
export function errorRepr(err: unknown): string {
  if (err instanceof Error) return `${err.name}(${pyRepr(err.message)})`;
  return `Error(${pyRepr(String(err))})`;
}

function truncate(s: string): string {
  return s.length > MAX_REPR ? `${s.slice(0, MAX_REPR - 3)}...` : s;
}
