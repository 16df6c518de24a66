/**
 * One SQLite connection per database file per process, shared by every local:// broker and
 * store opened on it. WAL lets several processes read while one writes; synchronous=NORMAL
 * keeps every commit safe from a killed process (only a power loss may drop the last ones).
 * Writes issued in the same tick are coalesced into one IMMEDIATE transaction, each in its own
 * savepoint so one failing operation does not undo the others.
 */
import { EventEmitter } from 'node:events';
import { type FSWatcher, mkdirSync, statSync, watch } from 'node:fs';
import { basename, dirname } from 'node:path';
import Database from 'better-sqlite3';
import { Batcher } from '../../core/batcher.js';
import { ConfigError, OperationalError } from '../../core/errors.js';
import { SCHEMA, SCHEMA_VERSION } from './schema.js';

type Statement = Database.Statement<unknown[], unknown>;

const BUSY_TIMEOUT_MS = 10_000;
const SWEEP_EVERY_MS = 60_000;
/** How often a consumer checks that its database file is still the one at its path. */
const STILL_THERE_EVERY_MS = 1000;

export class LocalDatabase {
  /** In-process notifications: 'wake' (a message may be visible), 'key:<key>' (a kv key changed), 'control'. */
  readonly events = new EventEmitter();
  readonly #statements = new Map<string, Statement>();
  readonly #writes: Batcher<() => unknown, unknown>;
  readonly #sweeper: NodeJS.Timeout;
  #refs = 0;
  #folderWatch: FSWatcher | undefined;
  /** The file's identity when opened, and when it was last compared with what is at its path. */
  readonly #inode: number;
  #checkedAt = 0;

  constructor(
    readonly file: string,
    readonly db: Database.Database,
  ) {
    this.events.setMaxListeners(0);
    this.#inode = statSync(file).ino;
    // Called inside the outer transaction, a better-sqlite3 transaction function runs as a SAVEPOINT.
    const savepoint = db.transaction((op: () => unknown) => op());
    const batch = db.transaction((ops: Array<() => unknown>) =>
      ops.map((op) => {
        try {
          return savepoint(op);
        } catch (err) {
          return err instanceof Error ? err : new Error(String(err));
        }
      }),
    );
    // IMMEDIATE: take the write lock up front, so a read-then-write inside never fails on a stale snapshot.
    this.#writes = new Batcher((ops) => batch.immediate(ops));
    this.#sweeper = setInterval(() => void this.write(() => this.sweep(Date.now())).catch(() => {}), SWEEP_EVERY_MS);
    this.#sweeper.unref();
  }

  /**
   * Throws when the file this connection has open is no longer the one at its path (the folder
   * removed or replaced to start afresh): the process would go on, unheard, with the old one while
   * every other process uses the new. Checked at most once a second.
   */
  checkStillThere(now = Date.now()): void {
    if (now - this.#checkedAt < STILL_THERE_EVERY_MS) return;
    this.#checkedAt = now;
    if (statSync(this.file, { throwIfNoEntry: false })?.ino !== this.#inode) {
      throw new OperationalError(
        `local:// database ${this.file} was deleted or replaced while this process had it open, and it still uses the old one: restart it to use the new one.`,
      );
    }
  }

  /** A cached prepared statement. */
  stmt(sql: string): Statement {
    let s = this.#statements.get(sql);
    if (!s) {
      s = this.db.prepare(sql);
      this.#statements.set(sql, s);
    }
    return s;
  }

  /** Run `op` inside the next batched write transaction; resolves after the commit. */
  write<R>(op: () => R): Promise<R> {
    return this.#writes.add(op) as Promise<R>;
  }

  /** Drop expired results and control traffic. */
  sweep(now: number): void {
    this.stmt('DELETE FROM chord_parts WHERE parts_key IN (SELECT key FROM kv WHERE expires_at IS NOT NULL AND expires_at <= ?)').run(now);
    this.stmt('DELETE FROM kv WHERE expires_at IS NOT NULL AND expires_at <= ?').run(now);
    this.stmt('DELETE FROM control_requests WHERE expires_at <= ?').run(now);
    this.stmt('DELETE FROM control_replies WHERE expires_at <= ?').run(now);
  }

  /**
   * Wake this process's consumers when another process writes the file: inotify on the folder
   * (it outlives the WAL file being recreated) turns a cross-process publish into a wake-up
   * within a millisecond instead of the next idle poll. Polling stays as the fallback.
   */
  watchForeignWrites(): void {
    if (this.#folderWatch) return;
    const name = basename(this.file);
    try {
      this.#folderWatch = watch(dirname(this.file), { persistent: false }, (_event, changed) => {
        if (changed === null || changed.startsWith(name)) this.events.emit('wake');
      });
      this.#folderWatch.on('error', () => this.#folderWatch?.close());
    } catch {
      // Some file systems cannot be watched: the idle poll still finds new messages.
    }
  }

  retain(): this {
    this.#refs++;
    return this;
  }

  /** Give back one reference; the last one flushes pending writes and closes the connection. */
  async release(): Promise<void> {
    if (--this.#refs > 0) return;
    open.delete(this.file);
    await this.#writes.drain();
    clearInterval(this.#sweeper);
    this.#folderWatch?.close();
    this.db.close();
  }
}

const open = new Map<string, LocalDatabase>();

/** What stops a database from being opened, said with the file it is, where it is the folder's or file's fault. */
export function explainOpenError(file: string, err: unknown): unknown {
  const code = String((err as { code?: unknown }).code ?? '');
  if (code === 'SQLITE_NOTADB' || code === 'SQLITE_CORRUPT') {
    return new ConfigError(
      `local:// found ${file}, which is not a celeriac database (${(err as Error).message}): move it away, or name another folder.`,
      { cause: err },
    );
  }
  if (code.startsWith('SQLITE_READONLY') || code.startsWith('SQLITE_CANTOPEN') || code === 'SQLITE_PERM') {
    return new ConfigError(
      `local:// cannot write its database ${file} (${(err as Error).message}): name a folder this process can write.`,
      {
        cause: err,
      },
    );
  }
  return err;
}

/**
 * Run `step` again while another process holds a lock SQLite does not wait for (switching a new
 * file to WAL while another process writes it), for as long as the busy timeout would wait.
 */
function whenUnlocked<T>(step: () => T): T {
  const deadline = Date.now() + BUSY_TIMEOUT_MS;
  for (;;) {
    try {
      return step();
    } catch (err) {
      if ((err as { code?: unknown }).code !== 'SQLITE_BUSY' || Date.now() >= deadline) throw err;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10); // opening is synchronous: a short blocking pause
    }
  }
}

export function openDatabase(folder: string, file: string): LocalDatabase {
  const existing = open.get(file);
  if (existing) return existing.retain();
  try {
    mkdirSync(folder, { recursive: true });
  } catch (err) {
    const why = (err as NodeJS.ErrnoException).code === 'EEXIST' ? 'a file of that name is in the way' : (err as Error).message;
    throw new ConfigError(
      `local:// keeps its database in the folder ${folder}, which cannot be made (${why}): name a folder this process can write.`,
    );
  }
  let db: Database.Database;
  try {
    db = new Database(file, { timeout: BUSY_TIMEOUT_MS });
  } catch (err) {
    throw new ConfigError(`local:// cannot open its database ${file} (${(err as Error).message}): name a folder this process can write.`);
  }
  try {
    whenUnlocked(() => db.pragma('journal_mode = WAL'));
    db.pragma('synchronous = NORMAL');
    db.transaction(() => {
      const version = db.pragma('user_version', { simple: true }) as number;
      if (version > SCHEMA_VERSION) {
        throw new ConfigError(
          `${file} was written by a newer celeriac (schema ${version}, this one knows ${SCHEMA_VERSION}): upgrade celeriac or use another local:// folder.`,
        );
      }
      db.exec(SCHEMA);
      db.pragma(`user_version = ${SCHEMA_VERSION}`);
    }).immediate();
  } catch (err) {
    db.close();
    throw explainOpenError(file, err);
  }
  const handle = new LocalDatabase(file, db).retain();
  handle.sweep(Date.now());
  open.set(file, handle);
  return handle;
}
