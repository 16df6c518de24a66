/**
 * app.conf: one typed, validated settings object. Keys keep Celery's lowercase names; Celery's
 * old UPPERCASE names are accepted (aliases.ts); an unknown or misspelled key, or a bad value,
 * is a ConfigError naming the key — never silently ignored (DESIGN.md "Configuration").
 */
import { ConfigError } from '../errors.js';
import { redact, redactValue } from '../registry.js';
import { MISSPELLED_OLD_NAMES, OLD_SETTING_NAMES, resolveSettingName } from './aliases.js';
import { CELERY_SETTINGS } from './celery-settings.js';
import { isPlainObject } from './checks.js';
import { didYouMean } from './closest.js';
import {
  DEFAULT_SETTINGS,
  EMBEDDED_DEFAULT_URL,
  SETTING_KEYS,
  type SettingKey,
  type Settings,
  SETTING_CHECKS,
  UNSUPPORTED_SETTINGS,
} from './settings.js';

/** Environment variables that override the config (and the CLI's --broker / --result-backend, which set them). */
export const ENV_OVERRIDES = { broker_url: 'CELERIAC_BROKER_URL', result_backend: 'CELERIAC_RESULT_BACKEND' } as const;

/**
 * Celery's own variables, which override its config the same way (§9, celery/app/utils.py): read
 * after celeriac's, so a deployment ported from Celery keeps its broker and backend.
 */
const CELERY_ENV_OVERRIDES = { broker_url: 'CELERY_BROKER_URL', result_backend: 'CELERY_RESULT_BACKEND' } as const;

/** Settings as read through app.conf: broker_url always has a value (the embedded default). */
export type EffectiveSettings = Omit<Settings, 'broker_url'> & { broker_url: string };

export type SettingSource = 'env' | 'config' | 'default';

/** Names the app's constructor takes for settings, as Celery('proj', broker=..., backend=...) does. */
const CONSTRUCTOR_NAMES: Readonly<Record<string, SettingKey>> = { broker: 'broker_url', backend: 'result_backend' };

/**
 * Who gives settings: the app's constructor (Celery's preconf, which a config module does not
 * override: celery/app/base.py keeps every Celery(...) keyword above config_from_object), a config
 * module, or update() (and assignments), which change whatever was set before.
 */
type Layer = 'constructor' | 'module' | 'update';

export interface ConfigOptions {
  /** Where the overrides are read; process.env by default. */
  env?: Readonly<Record<string, string | undefined>>;
  /** Called for each warning (e.g. a name Celery would ignore); default process.emitWarning. */
  onWarning?: (message: string) => void;
}

const CELERY_NAMES: ReadonlySet<string> = new Set(CELERY_SETTINGS.map(([name]) => name));

// What a name Celery does not know may be a typo of: settings celeriac reads first, so a near tie suggests one of them.
const OLD_NAMES = Object.keys(OLD_SETTING_NAMES);
const SUPPORTED_OLD_NAMES = OLD_NAMES.filter((name) => SETTING_KEYS.includes(OLD_SETTING_NAMES[name] as SettingKey));
const UPPERCASE_CANDIDATES = [...SUPPORTED_OLD_NAMES, ...Object.keys(MISSPELLED_OLD_NAMES), ...OLD_NAMES];
const LOWERCASE_CANDIDATES = [...SETTING_KEYS, ...CELERY_NAMES];

const isUpperCase = (name: string) => name === name.toUpperCase() && name !== name.toLowerCase();

/** A value as an error quotes it, its secrets hidden: a wrong broker_url may still hold a real password. */
function show(value: unknown): string {
  if (typeof value === 'function') return `function ${value.name || '(anonymous)'}`;
  try {
    return JSON.stringify(redactValue(value)) ?? redact(String(value));
  } catch {
    return redact(String(value));
  }
}

function problemsMessage(problems: string[]): string {
  return problems.length === 1 ? `Invalid setting: ${problems[0]}` : `Invalid settings:\n  - ${problems.join('\n  - ')}`;
}

/** Typed accessors for every setting (conf.broker_url, ...), defined on the prototype below. */
export interface Config extends EffectiveSettings {}

// biome-ignore lint/suspicious/noUnsafeDeclarationMerging: the merged interface types the accessors defined on Config.prototype after the class.
export class Config {
  readonly #values: Settings = { ...DEFAULT_SETTINGS };
  readonly #explicit = new Set<SettingKey>();
  /** Settings given to the constructor: a config module leaves them as they are. */
  readonly #fromConstructor = new Set<SettingKey>();
  readonly #env: Readonly<Record<string, string | undefined>>;
  readonly #onWarning: (message: string) => void;
  readonly #warnings: string[] = [];

  /**
   * The app's settings as given to createApp(): Celery's names, old or new, and `broker` /
   * `backend` for broker_url / result_backend. A config module loaded later does not override them.
   */
  constructor(settings?: Readonly<Record<string, unknown>>, options: ConfigOptions = {}) {
    this.#env = options.env ?? process.env;
    this.#onWarning = options.onWarning ?? ((message) => process.emitWarning(message, 'CeleriacConfigWarning'));
    for (const name of [...Object.values(ENV_OVERRIDES), ...Object.values(CELERY_ENV_OVERRIDES)]) this.#envValue(name);
    if (settings !== undefined) this.#apply(settings, 'constructor');
  }

  /** Warnings given so far (also passed to onWarning as they happen). */
  get warnings(): readonly string[] {
    return this.#warnings;
  }

  /**
   * Validates and applies settings; all-or-nothing (a ConfigError lists every problem and
   * changes nothing). A key whose value is undefined is skipped. Later calls win.
   */
  update(settings: Readonly<Partial<Settings>> | Readonly<Record<string, unknown>>): this {
    return this.#apply(settings, 'update');
  }

  #apply(settings: Readonly<Record<string, unknown>>, layer: Layer): this {
    if (!isPlainObject(settings))
      throw new ConfigError(`Settings must be an object such as { broker_url: 'local://.celeriac' }, got ${show(settings)}`);
    const problems: string[] = [];
    const warnings: string[] = [];
    const given = new Map<SettingKey, { name: string; value: unknown }>();
    for (const [name, value] of Object.entries(settings)) {
      if (value === undefined) continue;
      const constructorName = layer === 'constructor' && Object.hasOwn(CONSTRUCTOR_NAMES, name) ? CONSTRUCTOR_NAMES[name] : undefined;
      const { key, warning } = constructorName !== undefined ? { key: constructorName } : resolveSettingName(name);
      if (!SETTING_KEYS.includes(key as SettingKey)) {
        if (CELERY_NAMES.has(key)) {
          const instead = UNSUPPORTED_SETTINGS[key] ?? 'celeriac does not implement it; remove it';
          problems.push(`'${name}'${name === key ? '' : ` (${key})`} is a Celery setting celeriac does not support: ${instead}.`);
        } else {
          problems.push(`'${name}' is not a setting.${didYouMean(name, isUpperCase(name) ? UPPERCASE_CANDIDATES : LOWERCASE_CANDIDATES)}`);
        }
        continue;
      }
      const earlier = given.get(key as SettingKey);
      if (earlier !== undefined && !Object.is(earlier.value, value)) {
        problems.push(`'${earlier.name}' and '${name}' both set ${key}, to ${show(earlier.value)} and ${show(value)}; keep one.`);
        continue;
      }
      given.set(key as SettingKey, { name, value });
      if (warning !== undefined) warnings.push(warning);
    }
    for (const [key, { name, value }] of given) {
      const problem = SETTING_CHECKS[key](value);
      if (problem === null) continue;
      const label = name === key ? key : `${name} (${key})`;
      // Route and annotation checks name the exact entry themselves (task_routes['tasks.add'] ...).
      problems.push(problem.startsWith(key) ? problem : `${label}: ${problem} (got ${show(value)})`);
    }
    if (problems.length > 0) throw new ConfigError(problemsMessage(problems));
    for (const [key, { value }] of given) {
      if (layer === 'module' && this.#fromConstructor.has(key)) continue;
      if (layer === 'constructor') this.#fromConstructor.add(key);
      (this.#values as unknown as Record<string, unknown>)[key] = value;
      this.#explicit.add(key);
    }
    for (const warning of warnings) {
      this.#warnings.push(warning);
      this.#onWarning(warning);
    }
    return this;
  }

  /**
   * Applies a config module's exports or a plain object (app.configFromObject), except the
   * settings given to the constructor, which win as in Celery. A module's named exports are
   * the settings; a module with only a default export (or CommonJS `module.exports`) uses that object.
   */
  fromObject(source: unknown): this {
    if (!isPlainObject(source)) throw new ConfigError(`A config must be an object or a module of settings, got ${show(source)}`);
    const named = Object.keys(source).filter((k) => k !== 'default' && k !== 'module.exports' && k !== '__esModule');
    const fallback = source.default;
    if (fallback === undefined) return this.#apply(Object.fromEntries(named.map((k) => [k, source[k]])), 'module');
    // CommonJS: Node exposes module.exports as default and, where it can, its keys as named exports too.
    const sameAsDefault = isPlainObject(fallback) && named.every((k) => Object.is(fallback[k], source[k]));
    if (named.length > 0 && !sameAsDefault) {
      throw new ConfigError(
        `The config module has both a default export and named exports (${named.join(', ')}); export the settings one way.`,
      );
    }
    if (!isPlainObject(fallback))
      throw new ConfigError(`The config module's default export must be an object of settings, got ${show(fallback)}`);
    return this.#apply(fallback, 'module');
  }

  /** A setting's value in effect: environment override, then config, then default. */
  get<K extends SettingKey>(key: K): EffectiveSettings[K] {
    if (key === 'broker_url') {
      return (this.#envOverride('broker_url') ?? this.#values.broker_url ?? EMBEDDED_DEFAULT_URL) as EffectiveSettings[K];
    }
    if (key === 'result_backend') {
      const backend = this.#envOverride('result_backend') ?? this.#values.result_backend;
      // Neither set: both use the embedded store, so first steps need no server (DESIGN.md).
      const brokerSet = this.#envOverride('broker_url') !== undefined || this.#values.broker_url !== null;
      return (backend ?? (brokerSet ? null : EMBEDDED_DEFAULT_URL)) as EffectiveSettings[K];
    }
    return this.#values[key] as EffectiveSettings[K];
  }

  /** Where the value in effect comes from. */
  sourceOf(key: SettingKey): SettingSource {
    if ((key === 'broker_url' || key === 'result_backend') && this.#envOverride(key) !== undefined) return 'env';
    return this.#explicit.has(key) ? 'config' : 'default';
  }

  /** The settings given explicitly (not defaults, not environment), as Celery's conf.changes. */
  changes(): Partial<Settings> {
    return Object.fromEntries([...this.#explicit].map((key) => [key, this.#values[key]]));
  }

  /** Every setting in effect. */
  toJSON(): EffectiveSettings {
    return Object.fromEntries(SETTING_KEYS.map((key) => [key, this.get(key)])) as EffectiveSettings;
  }

  #envOverride(key: keyof typeof ENV_OVERRIDES): string | undefined {
    return this.#envValue(ENV_OVERRIDES[key]) ?? this.#envValue(CELERY_ENV_OVERRIDES[key]);
  }

  #envValue(name: string): string | undefined {
    const value = this.#env[name];
    if (value === undefined || value === '') return undefined;
    const problem = SETTING_CHECKS.broker_url(value);
    if (problem !== null) throw new ConfigError(`Environment variable ${name}: ${problem} (got ${show(value)})`);
    return value;
  }
}

/*
 * Every other name written as a property (conf.CELERY_ACKS_LATE = false, conf.worker_concurency = 1,
 * conf.task_always_eager = true) goes through update() too, with its messages: an old name takes
 * effect, an unsupported or unknown one is refused. A proxy at the end of the prototype chain sees
 * only writes no accessor below it took, and receives the Config itself (its private fields
 * intact). An old name also reads as the setting it stands for, as in Celery.
 */
Object.setPrototypeOf(
  Config.prototype,
  new Proxy(Object.prototype, {
    set(target, name, value, receiver: Config) {
      if (typeof name === 'symbol') return Reflect.set(target, name, value, receiver);
      receiver.update({ [name]: value });
      return true;
    },
    get(target, name, receiver: Config) {
      if (typeof name === 'string' && isUpperCase(name)) {
        const { key } = resolveSettingName(name);
        if (SETTING_KEYS.includes(key as SettingKey)) return receiver.get(key as SettingKey);
      }
      return Reflect.get(target, name, receiver);
    },
  }),
);

// conf.broker_url, conf.task_default_queue = 'x', ...: typed by the interface above, validated by update().
for (const key of SETTING_KEYS) {
  Object.defineProperty(Config.prototype, key, {
    get(this: Config) {
      return this.get(key);
    },
    set(this: Config, value: unknown) {
      this.update({ [key]: value });
    },
    enumerable: true,
    configurable: false,
  });
}
