/**
 * Celery's old UPPERCASE setting names (celery-protocol.md §9, celery/app/defaults.py) mapped
 * to the lowercase names celeriac uses, so a Celery 3-style config module loads unchanged.
 */
import { CELERY_SETTINGS } from './celery-settings.js';

/** Old name → new name, as Celery 5.2 maps them (not CELERY_ENABLE_UTC: see MISSPELLED_OLD_NAMES). */
export const OLD_SETTING_NAMES: Readonly<Record<string, string>> = Object.fromEntries(
  CELERY_SETTINGS.map(([name, oldName]) => [oldName, name]),
);

/**
 * Old-looking names that Celery 5.2.6 silently ignores (§9 "Surprise", observed): celeriac
 * accepts them for the setting they obviously mean, and warns that the same file would not
 * have this effect under Celery.
 */
export const MISSPELLED_OLD_NAMES: Readonly<Record<string, { key: string; celeryName: string }>> = {
  CELERY_ENABLE_UTC: { key: 'enable_utc', celeryName: 'ENABLE_UTC' },
  CELERY_RESULT_EXPIRES: { key: 'result_expires', celeryName: 'CELERY_TASK_RESULT_EXPIRES' },
};

export interface ResolvedName {
  /** The lowercase name the key stands for (possibly one celeriac does not support). */
  key: string;
  /** Set when the name is accepted here but means nothing to Celery 5.2. */
  warning?: string;
}

/** Maps an old UPPERCASE name to its new name; other names are returned unchanged. */
export function resolveSettingName(name: string): ResolvedName {
  const old = OLD_SETTING_NAMES[name];
  if (old !== undefined) return { key: old };
  const misspelled = MISSPELLED_OLD_NAMES[name];
  if (misspelled !== undefined) {
    return {
      key: misspelled.key,
      warning:
        `${name} is read as ${misspelled.key}, but Celery 5.2 silently ignores ${name}: ` +
        `write ${misspelled.key} (or ${misspelled.celeryName}) so the file means the same to Celery.`,
    };
  }
  return { key: name };
}
