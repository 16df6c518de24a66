/**
 * How long a message is handed back for when it could not settle for want of the result store
 * (its result could not be stored, its revokes and rate limits could not be read): doubling with
 * each delivery from 1 s, up to a minute.
 */
export function handBackBackoffMs(receiveCount: number): number {
  return Math.min(60_000, 1000 * 2 ** Math.max(0, receiveCount - 1));
}
