/** Task states with Celery's names and rules (celery-protocol.md §5). */
export const PENDING = 'PENDING';
export const RECEIVED = 'RECEIVED';
export const STARTED = 'STARTED';
export const RETRY = 'RETRY';
export const SUCCESS = 'SUCCESS';
export const FAILURE = 'FAILURE';
export const REVOKED = 'REVOKED';

export type BuiltinState =
  | typeof PENDING
  | typeof RECEIVED
  | typeof STARTED
  | typeof RETRY
  | typeof SUCCESS
  | typeof FAILURE
  | typeof REVOKED;
/** Any built-in state, or a custom progress state such as 'PROGRESS'. */
export type State = BuiltinState | (string & {});

export const READY_STATES: ReadonlySet<string> = new Set([SUCCESS, FAILURE, REVOKED]);
export const EXCEPTION_STATES: ReadonlySet<string> = new Set([RETRY, FAILURE, REVOKED]);
export const PROPAGATE_STATES: ReadonlySet<string> = new Set([FAILURE, REVOKED]);

export const isReady = (state: string): boolean => READY_STATES.has(state);
