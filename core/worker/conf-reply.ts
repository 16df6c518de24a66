/**
 * The `conf` control command's reply (§6): the app's settings by Celery's lowercase names, only
 * those changed from the defaults unless asked for all, with secrets masked as Celery masks them
 * (setting names matching its hidden-settings pattern, in nested objects too; passwords inside URLs).
 */
import { DEFAULT_SETTINGS, SETTING_KEYS } from '../config/settings.js';
import { redactValue } from '../registry.js';

export function confReply(conf: Readonly<Record<string, unknown>>, withDefaults: boolean): Record<string, unknown> {
  const defaults: Readonly<Record<string, unknown>> = DEFAULT_SETTINGS;
  const out: Record<string, unknown> = {};
  for (const key of SETTING_KEYS) {
    const value = conf[key];
    if (!withDefaults && JSON.stringify(value) === JSON.stringify(defaults[key])) continue;
    out[key] = value;
  }
  return redactValue(out) as Record<string, unknown>;
}
