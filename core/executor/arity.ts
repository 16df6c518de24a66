/**
 * A task function is called with the message's args and then its TaskContext. A message with
 * fewer args than the function's parameters (fn.length: those before any default) would hand the
 * context to a data parameter, and the task would succeed with a wrong result ("1[object Object]"):
 * such a call fails with TypeError instead, as a Python task called with missing arguments does.
 * The context may be the last parameter, so one parameter short is allowed; a function of one
 * parameter called without args cannot be told from one that takes only its context.
 */
export function checkArity(name: string, fn: { length: number }, args: readonly unknown[], kwargs: Record<string, unknown>): void {
  const missing = fn.length - 1 - args.length;
  if (missing <= 0) return;
  const keywords = Object.keys(kwargs);
  throw new TypeError(
    `${name}() missing ${missing} required positional argument${missing === 1 ? '' : 's'}: it takes ${fn.length} parameters ` +
      `(its TaskContext may be the last) and was given ${args.length} args` +
      (keywords.length > 0
        ? `; keyword arguments (${keywords.join(', ')}) reach a task as ctx.kwargs, not as its parameters: send them as args`
        : ''),
  );
}
