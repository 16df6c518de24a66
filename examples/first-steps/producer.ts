// A producer: sends a task and waits for its result, as a web backend would.
import { add, app } from './tasks.js';

const result = await add.delay(4, 4);
console.log(`sent tasks.add[${result.id}]`);
console.log(`result: ${await result.get({ timeout: 10_000 })}`);
await app.close();
