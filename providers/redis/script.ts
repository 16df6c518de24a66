/**
 * Runs a Lua script by its SHA, loading it on NOSCRIPT (a restarted or flushed server forgets
 * scripts). Each state transition is one script, so it is atomic on the server (STYLE.md §6).
 */
import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';

type Arg = string | number;

export class LuaScript {
  readonly sha: string;

  constructor(
    readonly name: string,
    readonly source: string,
  ) {
    this.sha = createHash('sha1').update(source).digest('hex');
  }

  async run<T = unknown>(client: Redis, keys: readonly string[], args: readonly Arg[]): Promise<T> {
    try {
      return (await client.evalsha(this.sha, keys.length, ...keys, ...args)) as T;
    } catch (err) {
      if (!String((err as Error).message).includes('NOSCRIPT')) throw err;
      return (await client.eval(this.source, keys.length, ...keys, ...args)) as T;
    }
  }
}
