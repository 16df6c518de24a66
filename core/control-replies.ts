/**
 * Celery's wording of the replies to revoke and rate_limit (worker/control.py, §6), shared by the
 * worker's handlers and by the result-store path of brokers without a control channel, so both
 * answer alike. Kept apart from the worker so producers can use it without loading worker code.
 */
export const rateLimitReply = (disabled: boolean): string =>
  disabled ? 'rate limit disabled successfully' : 'new rate limit set successfully';

export const revokeReply = (ids: readonly string[]): string => `tasks ${ids.join(', ')} flagged as revoked`;
