/**
 * The tables of a local:// database. A message is visible when available_at (epoch ms) has
 * passed: ETA, retry delays and leases all just move it (the SQS model), so leasing and
 * lease expiry need no sweeper. `lease` identifies the current holder; a settle from a holder
 * whose lease was taken over matches no row and does nothing.
 */
export const SCHEMA_VERSION = 1;

export const SCHEMA = `
CREATE TABLE IF NOT EXISTS messages (
  id INTEGER PRIMARY KEY,
  queue TEXT NOT NULL,
  priority INTEGER NOT NULL DEFAULT 0,
  available_at INTEGER NOT NULL,
  receive_count INTEGER NOT NULL DEFAULT 0,
  lease INTEGER,
  body TEXT NOT NULL
);
-- Fetch order: highest priority first, then insertion order (FIFO).
CREATE INDEX IF NOT EXISTS messages_fetch ON messages (queue, priority DESC, id, available_at);
-- Whether anything is due: fetch order cannot skip messages held for later (ETA, leased).
CREATE INDEX IF NOT EXISTS messages_due ON messages (queue, available_at);

CREATE TABLE IF NOT EXISTS dead_letters (
  id INTEGER PRIMARY KEY,
  queue TEXT NOT NULL,
  reason TEXT NOT NULL,
  raw TEXT NOT NULL,
  at INTEGER NOT NULL
);

CREATE TABLE IF NOT EXISTS kv (
  key TEXT PRIMARY KEY,
  value TEXT NOT NULL,
  ready INTEGER NOT NULL DEFAULT 0,
  expires_at INTEGER
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS kv_expiry ON kv (expires_at) WHERE expires_at IS NOT NULL;

-- A chord's finished header parts, one row per task; the kv row of parts_key holds their count
-- and their expiry (they go with it).
CREATE TABLE IF NOT EXISTS chord_parts (
  parts_key TEXT NOT NULL,
  task_id TEXT NOT NULL,
  score REAL,
  member TEXT NOT NULL,
  PRIMARY KEY (parts_key, task_id)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS control_requests (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  ticket TEXT NOT NULL,
  command TEXT NOT NULL,
  reply INTEGER NOT NULL,
  expires_at INTEGER NOT NULL
);

CREATE TABLE IF NOT EXISTS control_replies (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  ticket TEXT NOT NULL,
  reply TEXT NOT NULL,
  expires_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS control_replies_ticket ON control_replies (ticket, id);
`;
