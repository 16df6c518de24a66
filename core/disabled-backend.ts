/**
 * The result backend when none is configured (broker_url set, result_backend not): writes are
 * dropped, reads explain how to enable results — Celery's DisabledBackend.
 */
import { ConfigError } from './errors.js';
import type { ResultBackend } from './ports.js';

const WHY =
  'No result backend is configured, so task results are not stored. Set result_backend (e.g. local://.celeriac or redis://localhost:6379/0).';

export class DisabledBackend implements ResultBackend {
  readonly url = 'disabled://';
  async store(): Promise<void> {}
  async get(): Promise<never> {
    throw new ConfigError(WHY);
  }
  async waitFor(): Promise<never> {
    throw new ConfigError(WHY);
  }
  async forget(): Promise<void> {}
  async close(): Promise<void> {}
}
