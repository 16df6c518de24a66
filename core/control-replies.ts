/**
 * Celery's wording of the replies to revoke, rate_limit and time_limit (worker/control.py, §6), shared by the
 * worker's handlers and by the result-store path of brokers without a control channel, so both
 * answer alike. Kept apart from the worker so producers can use it without loading worker code.
 */
export const rateLimitReply = (disabled: boolean): string =>
  disabled ? 'rate limit disabled successfully' : 'new rate limit set successfully';

export const revokeReply = (ids: readonly string[]): string => `tasks ${ids.join(', ')} flagged as revoked`;

/** Celery's error reply for a task name the worker does not know (rate_limit, time_limit). */
export const unknownTaskReply = (): { error: string } => ({ error: 'unknown task' });
