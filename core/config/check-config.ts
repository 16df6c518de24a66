/**
 * `celeriac check-config MODULE`: load a config module and validate it, as Celery's docs
 * suggest running `python -m celeryconfig` to catch mistakes before a worker starts.
 */
import { loadModule } from '../module-loader.js';
import { redact, redactValue } from '../registry.js';
import { Config, type ConfigOptions } from './config.js';
import { SETTING_KEYS, type SettingKey } from './settings.js';

/** A setting's value as printed, with its secrets hidden (registry.ts redactValue). */
function format(key: SettingKey, value: unknown): string {
  const shown = redactValue(value);
  if (typeof shown === 'string') return key === 'broker_url' || key === 'result_backend' ? shown : JSON.stringify(shown);
  return (
    JSON.stringify(shown, (_k, v: unknown) =>
      typeof v === 'function' ? `[function ${v.name || 'anonymous'}]` : v instanceof Date ? v.toISOString() : v,
    ) ?? String(shown)
  );
}

/**
 * Loads `specifier` with loadModule, validates it with Config.fromObject and returns a
 * printable summary: every setting the module sets, where the broker and backend in effect
 * come from, and any warnings. Throws ConfigError on an unknown key or a bad value.
 */
export async function checkConfig(specifier: string, options: { cwd?: string; env?: ConfigOptions['env'] } = {}): Promise<string> {
  const exports = await loadModule(specifier, { cwd: options.cwd });
  const warnings: string[] = [];
  const conf = new Config(undefined, { env: options.env, onWarning: (w) => warnings.push(w) }).fromObject(exports);
  const changes = conf.changes();
  const set = SETTING_KEYS.filter((key) => key in changes);
  const width = Math.max(14, ...set.map((key) => key.length));
  const lines = [`${specifier}: OK (${set.length} setting${set.length === 1 ? '' : 's'})`];
  for (const key of set) lines.push(`  ${key.padEnd(width)}  ${format(key, changes[key])}`);
  lines.push('In effect:');
  for (const key of ['broker_url', 'result_backend'] as const) {
    const value = conf.get(key);
    const shown = value === null ? 'disabled (no result backend)' : redact(value);
    lines.push(`  ${key.padEnd(width)}  ${shown} (${conf.sourceOf(key)})`);
  }
  if (warnings.length > 0) lines.push('Warnings:', ...warnings.map((w) => `  - ${w}`));
  return lines.join('\n');
}
