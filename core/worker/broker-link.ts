/**
 * How a worker holds on to its broker, as Celery's consumer does: it waits for the broker at
 * start (logging each failed attempt), reports a connection lost and regained, logs failed fetches
 * without a line per retry, and mingles with the running workers to learn earlier revokes.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { ConfigError } from '../errors.js';
import type { Logger } from '../log.js';
import type { Broker, ControlChannel } from '../ports.js';
import { type RevokedIds, revokedIdsOf } from './revoked-ids.js';

/** Pause between attempts to reach the broker at start: 2 s more each time, at most this (kombu's interval_max). */
const CONNECT_RETRY_MAX_S = 30;

/** How long the start-up hello (mingle) collects replies, as Celery's. */
const MINGLE_MS = 1000;

/** How often the same fetch error is logged again while it lasts. */
const FETCH_ERROR_LOG_MS = 30_000;

/** Resolves true once the broker is reachable, false as soon as `signal` aborts (an attempt under way is not waited for). */
export async function waitForBroker(broker: Broker, log: Logger, signal: AbortSignal): Promise<boolean> {
  for (let attempt = 1; !signal.aborted; attempt++) {
    try {
      return await abortable(broker.connected?.(), signal);
    } catch (err) {
      if (signal.aborted) return false; // stopped meanwhile: the attempt's failure is no news
      if (err instanceof ConfigError) throw err; // the server refused the settings: trying again cannot help
      const pauseS = Math.min(CONNECT_RETRY_MAX_S, 2 * attempt);
      log.error(`consumer: ${(err as Error).message} Trying again in ${pauseS} seconds... (attempt ${attempt})`);
      await sleep(pauseS * 1000, undefined, { signal }).catch(() => undefined);
    }
  }
  return false;
}

/** True once `attempt` resolves, false as soon as `signal` aborts; a rejection passes through. */
function abortable(attempt: Promise<void> | undefined, signal: AbortSignal): Promise<boolean> {
  let onAbort = (): void => {};
  const aborted = new Promise<boolean>((resolve) => {
    onAbort = () => resolve(false);
    signal.addEventListener('abort', onAbort, { once: true });
  });
  return Promise.race([Promise.resolve(attempt).then(() => !signal.aborted), aborted]).finally(() =>
    signal.removeEventListener('abort', onAbort),
  );
}

/** The log lines for a connection going down and coming back. */
export function connectionLog(log: Logger, brokerUrl: string): (event: { up: boolean; reason?: string }) => void {
  return (e) =>
    e.up
      ? log.info(`consumer: Connected to ${brokerUrl} again.`)
      : log.warning(`consumer: Connection to broker lost (${e.reason}). Trying to re-establish the connection...`);
}

/** A failed fetch is retried by the consumer: logged when its reason changes, and at most every FETCH_ERROR_LOG_MS while it does not. */
export function fetchErrorLog(log: Logger, brokerUrl: string): (err: unknown) => void {
  let last = { reason: '', at: 0 };
  return (err) => {
    const reason = err instanceof Error ? err.message : String(err);
    const now = Date.now();
    if (reason === last.reason && now - last.at < FETCH_ERROR_LOG_MS) return;
    last = { reason, at: now };
    log.error(`consumer: cannot fetch messages from ${brokerUrl}: ${reason} (retrying)`);
  };
}

/**
 * Celery's mingle: ask the running workers (celeriac or Python) for the ids they were told to
 * revoke, since a revoke is a broadcast a worker started later never hears; the worker waits for
 * it before it consumes, as Celery's does, or a task revoked before it started would run. Where
 * the channel counts its nodes the wait ends once each has answered (at once for a worker alone);
 * otherwise it takes MINGLE_MS.
 */
export async function mingle(control: ControlChannel, hostname: string, revoked: RevokedIds, log: Logger): Promise<void> {
  try {
    // This worker answers its own hello too (with nothing): it is one of the nodes counted.
    const nodes = await control.nodes?.();
    if (nodes === 1) return log.info('mingle: all alone');
    const replies = await control.broadcast(
      { method: 'hello', arguments: { from_node: hostname, revoked: revoked.list() } },
      { timeoutMs: MINGLE_MS, limit: nodes },
    );
    const peers = replies.flatMap((r) => Object.entries(r)).filter(([node, reply]) => node !== hostname && reply);
    for (const [, reply] of peers) revoked.add(revokedIdsOf((reply as { revoked?: unknown }).revoked));
    log.info(peers.length ? `mingle: sync with ${peers.length} nodes` : 'mingle: all alone');
  } catch (err) {
    // Best effort: without it the worker only misses revokes sent before it started.
    log.warning(`mingle: could not ask the other workers: ${(err as Error).message}`);
  }
}
