/**
 * local://PATH names a folder relative to the current directory (local://.celeriac →
 * ./.celeriac/celeriac.db); local:///abs/path is absolute; a PATH ending in .db/.sqlite names
 * the database file itself. Query: ?visibility_timeout=SECONDS.
 */
import { isAbsolute, join, resolve } from 'node:path';
import { ConfigError } from '../../core/errors.js';
import { checkQuery, splitUrl, visibilityTimeoutMs } from '../../core/provider-options.js';
import { redact } from '../../core/registry.js';

export interface LocalLocation {
  folder: string;
  file: string;
  visibilityTimeoutMs: number;
}

export const DEFAULT_FOLDER = '.celeriac';

export function locate(url: string, transportOptions: Record<string, unknown> = {}, cwd = process.cwd()): LocalLocation {
  const { rest, query } = splitUrl(url);
  checkQuery(url, query, ['visibility_timeout']);
  let path: string;
  try {
    path = decodeURIComponent(rest) || DEFAULT_FOLDER;
  } catch {
    throw new ConfigError(`'${redact(url)}': the path is not URL-encoded text (write a '%' in a folder name as %25)`);
  }
  const full = isAbsolute(path) ? path : resolve(cwd, path);
  const isFile = /\.(db|sqlite3?)$/i.test(full);
  const folder = isFile ? resolve(full, '..') : full;
  return {
    folder,
    file: isFile ? full : join(folder, 'celeriac.db'),
    visibilityTimeoutMs: visibilityTimeoutMs(url, query, transportOptions),
  };
}
