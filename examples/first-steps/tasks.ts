// The first-steps app: no broker or backend configured, so celeriac uses the embedded
// durable default, local://.celeriac (a SQLite store in the current folder).
import { createApp } from 'celeriac';

export const app = createApp('tasks');

export const add = app.task(function add(x: number, y: number) {
  return x + y;
});
