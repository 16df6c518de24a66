/** The child side of test/support/child-script.ts: a fixture script reports each event as one JSON line on stdout. */
import type { ChildEvent } from './child-script.js';

export function say(event: ChildEvent): void {
  process.stdout.write(`${JSON.stringify(event)}\n`);
}
