/**
 * The worker's --pidfile: a lock that keeps two workers from running under the same name.
 * Created exclusively (O_EXCL); a file naming a live process makes the second worker refuse;
 * a file left by a crashed worker (its pid is gone) is taken over.
 */
import { closeSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { resolve } from 'node:path';
import { CeleriacError } from '../errors.js';

export interface Pidfile {
  readonly path: string;
  /** Remove the file if it still holds our pid. Safe to call more than once. */
  release(): void;
}

export function acquirePidfile(path: string): Pidfile {
  const full = resolve(path);
  // Two attempts: the first may find a stale file, which is removed before the second.
  for (let attempt = 0; attempt < 2; attempt++) {
    let fd: number;
    try {
      fd = openSync(full, 'wx', 0o644);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw new CeleriacError(`Cannot create pidfile ${full}: ${(err as Error).message}`);
      }
      const holder = readPid(full);
      if (holder !== undefined && holder !== process.pid && isAlive(holder)) {
        throw new CeleriacError(
          `Pidfile ${full} is held by a running process (pid ${holder}): another worker is already using it. Stop that worker, or pass another --pidfile.`,
        );
      }
      removeIfExists(full); // stale: its process is gone (e.g. SIGKILLed)
      continue;
    }
    try {
      writeSync(fd, `${process.pid}\n`);
    } finally {
      closeSync(fd);
    }
    return pidfileFor(full);
  }
  throw new CeleriacError(`Pidfile ${full} keeps reappearing: another worker is starting with the same --pidfile.`);
}

function pidfileFor(path: string): Pidfile {
  let released = false;
  const release = (): void => {
    if (released) return;
    released = true;
    process.off('exit', release);
    if (readPid(path) === process.pid) removeIfExists(path);
  };
  // Covers process.exit() paths (a forced second SIGINT) as well as a normal end.
  process.on('exit', release);
  return { path, release };
}

function readPid(path: string): number | undefined {
  try {
    const pid = Number.parseInt(readFileSync(path, 'utf8').trim(), 10);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0); // signal 0: existence check only
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'; // exists, owned by someone else
  }
}

function removeIfExists(path: string): void {
  try {
    unlinkSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}
