import { LuaScript } from '../script.js';

/** Release the restore lock only if this holder still owns it (compare-and-delete, as kombu does, §2.4). */
export const releaseMutex = new LuaScript(
  'release-mutex',
  `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`,
);
