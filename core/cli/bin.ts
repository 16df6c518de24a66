#!/usr/bin/env node
import { run } from './program.js';

// A reader that has gone (`| head`) fails our writes with EPIPE, at any moment until the exit:
// without a listener Node throws it as an unhandled 'error' event. Nothing is left to deliver.
for (const stream of [process.stdout, process.stderr]) stream.on('error', () => undefined);

const code = await run(process.argv);
await Promise.all([flushed(process.stdout), flushed(process.stderr)]);
// Exit explicitly: a provider handle left open must not keep a finished command alive.
process.exit(code);

/**
 * Resolves once everything written so far has reached the stream's pipe or file. Writes to a pipe
 * are queued, and process.exit drops the queue: output past the pipe buffer (64 KiB) was cut off.
 * A failed write (EPIPE) ends the wait too.
 */
function flushed(stream: NodeJS.WriteStream): Promise<void> {
  return new Promise((resolve) => {
    stream.once('error', () => resolve());
    stream.write('', () => resolve());
  });
}
