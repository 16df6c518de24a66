import { describe, expect, it } from 'vitest';
import { CELERY_SETTINGS } from '../../core/config/celery-settings.js';
import { Config } from '../../core/config/config.js';
import { DEFAULT_SETTINGS, SETTING_KEYS } from '../../core/config/settings.js';
import { createApp } from '../../core/app.js';
import { ConfigError } from '../../core/errors.js';

/** A Config isolated from the test process's environment, collecting warnings. */
function makeConfig(settings?: Record<string, unknown>, env: Record<string, string> = {}) {
  const warnings: string[] = [];
  const conf = new Config(settings, { env, onWarning: (w) => warnings.push(w) });
  return { conf, warnings };
}

function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

describe('Config (app.conf)', () => {
  it("has Celery's defaults, except task_acks_late which is true", () => {
    const { conf } = makeConfig();
    expect(conf.task_default_queue).toBe('celery');
    expect(conf.task_serializer).toBe('json');
    expect(conf.accept_content).toEqual(['json']);
    expect(conf.result_expires).toBe(86_400);
    expect(conf.worker_prefetch_multiplier).toBe(4);
    expect(conf.worker_concurrency).toBeNull();
    expect(conf.enable_utc).toBe(true);
    expect(conf.task_acks_late).toBe(true);
    expect(DEFAULT_SETTINGS.task_acks_late).toBe(true);
  });

  it('uses the embedded local store for both broker and backend when neither is set', () => {
    const { conf } = makeConfig();
    expect(conf.broker_url).toBe('local://.celeriac');
    expect(conf.result_backend).toBe('local://.celeriac');
    expect(conf.sourceOf('broker_url')).toBe('default');
  });

  it('leaves results disabled when only a broker is set, as Celery does', () => {
    const { conf } = makeConfig({ broker_url: 'redis://localhost:6379/0' });
    expect(conf.broker_url).toBe('redis://localhost:6379/0');
    expect(conf.result_backend).toBeNull();
  });

  it('defaults the broker to the local store when only a backend is set', () => {
    const { conf } = makeConfig({ result_backend: 'redis://localhost' });
    expect(conf.broker_url).toBe('local://.celeriac');
    expect(conf.result_backend).toBe('redis://localhost');
  });

  it('reads and writes settings as typed properties, validating assignments', () => {
    const { conf } = makeConfig();
    conf.task_default_queue = 'math';
    expect(conf.task_default_queue).toBe('math');
    expect(conf.get('task_default_queue')).toBe('math');
    expect(conf.changes()).toEqual({ task_default_queue: 'math' });
    const err = configError(() => {
      (conf as unknown as Record<string, unknown>).worker_concurrency = -1;
    });
    expect(err.message).toContain('worker_concurrency');
    expect(conf.worker_concurrency).toBeNull();
  });

  it('refuses an unknown, misspelled or unsupported name written as a property, as update() does', () => {
    const { conf } = makeConfig();
    const props = conf as unknown as Record<string, unknown>;
    for (const [name, value] of [
      ['worker_concurency', 1],
      ['task_always_eager', true],
      ['CELERY_ALWAYS_EAGER', true],
      ['task_acks_lat', false],
    ] as const) {
      const err = configError(() => {
        props[name] = value;
      });
      expect(err.message).toBe(configError(() => makeConfig().conf.update({ [name]: value })).message);
      expect(Object.hasOwn(conf, name)).toBe(false);
    }
    const typo = configError(() => {
      props.worker_concurency = 1;
    });
    expect(typo.message).toContain("Did you mean 'worker_concurrency'?");
    expect(conf.changes()).toEqual({});
  });

  it('applies an old UPPERCASE name written as a property, and reads it back as the setting it stands for', () => {
    const { conf } = makeConfig();
    const props = conf as unknown as Record<string, unknown>;
    props.CELERY_ACKS_LATE = false;
    props.CELERYD_CONCURRENCY = 2;
    expect(conf.task_acks_late).toBe(false);
    expect(conf.worker_concurrency).toBe(2);
    expect(props.CELERY_ACKS_LATE).toBe(false);
    expect(conf.changes()).toEqual({ task_acks_late: false, worker_concurrency: 2 });
    const bad = configError(() => {
      props.CELERYD_CONCURRENCY = 0;
    });
    expect(bad.message).toContain('CELERYD_CONCURRENCY (worker_concurrency)');
  });

  it('update() applies several settings and later calls win', () => {
    const { conf } = makeConfig({ task_default_queue: 'a' });
    conf.update({ task_default_queue: 'b', task_ignore_result: true, timezone: 'Europe/London' });
    expect(conf.task_default_queue).toBe('b');
    expect(conf.task_ignore_result).toBe(true);
    expect(conf.timezone).toBe('Europe/London');
  });

  it('skips keys whose value is undefined', () => {
    const { conf } = makeConfig({ broker_url: undefined });
    expect(conf.changes()).toEqual({});
  });

  it.each([
    ['broker_ulr', 'broker_url'],
    ['task_acks_lat', 'task_acks_late'],
    ['BROKER_ULR', 'BROKER_URL'],
    ['broker', 'broker_url'],
  ])('an unknown key %s is an error naming %s', (typo, meant) => {
    const err = configError(() => makeConfig().conf.update({ [typo]: 'x' }));
    expect(err.message).toContain(`'${typo}' is not a setting`);
    expect(err.message).toContain(`Did you mean '${meant}'?`);
  });

  it('an unknown key far from any setting is still an error', () => {
    expect(configError(() => makeConfig({ colour: 'blue' })).message).toContain("'colour' is not a setting.");
  });

  it('a Celery setting celeriac does not implement is an error that says what to do instead', () => {
    const err = configError(() => makeConfig({ CELERY_ALWAYS_EAGER: true }));
    expect(err.message).toContain('CELERY_ALWAYS_EAGER');
    expect(err.message).toContain('task_always_eager');
    expect(err.message).toContain('task.run');
  });

  it('task_queue_max_priority, worker_direct and task_inherit_parent_priority are Celery 5.2 settings celeriac does not support, not unknown keys', () => {
    for (const key of ['task_queue_max_priority', 'worker_direct', 'task_inherit_parent_priority']) {
      expect(configError(() => makeConfig({ [key]: 10 })).message).toContain(`'${key}' is a Celery setting celeriac does not support: `);
    }
  });

  it('every other setting Celery 5.2 defines, by its name or old name, is refused as one celeriac does not support, never as a typo', () => {
    for (const [name, oldName] of CELERY_SETTINGS) {
      if (SETTING_KEYS.includes(name as never)) continue;
      for (const given of [name, oldName]) {
        const message = configError(() => makeConfig({ [given]: 'x' })).message;
        expect(message).toContain(`'${given}'${given === name ? '' : ` (${name})`} is a Celery setting celeriac does not support:`);
        expect(message).not.toContain('Did you mean');
      }
    }
    // Names the bug hunt found called unknown, or taken for a typo of another setting.
    for (const name of [
      'broker_connection_retry',
      'result_backend_transport_options',
      'event_serializer',
      'worker_hijack_root_logger',
      'imports',
    ]) {
      expect(configError(() => makeConfig({ [name]: 1 })).message).toMatch(
        /is a Celery setting celeriac does not support: celeriac does not implement it; remove it\.$/,
      );
    }
    expect(configError(() => makeConfig({ task_always_eagr: true })).message).toContain(
      "'task_always_eagr' is not a setting. Did you mean 'task_always_eager'?",
    );
  });

  it('is all-or-nothing and reports every problem with its key', () => {
    const { conf } = makeConfig();
    const err = configError(() =>
      conf.update({ task_default_queue: 'q', worker_prefetch_multiplier: 'four', broker_ulr: 'redis://x', task_serializer: 'pickle' }),
    );
    expect(err.message).toContain('worker_prefetch_multiplier');
    expect(err.message).toContain('"four"');
    expect(err.message).toContain('broker_ulr');
    expect(err.message).toContain("task_serializer: celeriac serializes with 'json' only");
    expect(conf.task_default_queue).toBe('celery');
  });

  it.each([
    [{ broker_url: 'localhost:6379' }, 'broker_url: expected a URL'],
    [{ result_expires: -5 }, 'result_expires'],
    [{ timezone: 'Mars/Olympus' }, 'IANA time zone'],
    [{ task_default_priority: 12 }, 'task_default_priority'],
    [{ task_default_rate_limit: '10/d' }, "Invalid rate limit '10/d'"],
    [{ accept_content: [] }, 'at least one content type'],
    [{ accept_content: ['json', 'pickle'] }, "celeriac decodes JSON only ('json' or 'application/json'), so it cannot accept 'pickle'"],
    [{ CELERY_ACCEPT_CONTENT: ['application/x-yaml'] }, 'CELERY_ACCEPT_CONTENT (accept_content): celeriac decodes JSON only'],
    [
      { result_accept_content: ['json', 'msgpack'] },
      "result_accept_content: celeriac decodes JSON only ('json' or 'application/json'), so it cannot accept 'msgpack'",
    ],
    [{ task_routes: { 'tasks.add': 42 } }, "task_routes['tasks.add']"],
    [{ task_annotations: { 'tasks.add': { rate_limt: '1/s' } } }, "Did you mean 'rate_limit'?"],
    [{ task_time_limit: 0 }, 'task_time_limit'],
    [{ enable_utc: 'yes' }, 'expected true or false'],
  ])('rejects a bad value %j with a clear message', (settings, message) => {
    expect(configError(() => makeConfig(settings)).message).toContain(message);
  });

  it('accepts JSON in accept_content and result_accept_content by name or content type', () => {
    const { conf } = makeConfig({ accept_content: ['json', 'application/json'], result_accept_content: ['Application/JSON'] });
    expect(conf.accept_content).toEqual(['json', 'application/json']);
    expect(conf.result_accept_content).toEqual(['Application/JSON']);
    expect(makeConfig().conf.result_accept_content).toBeNull();
  });

  describe("Celery's old UPPERCASE names", () => {
    it('map to the new names', () => {
      const { conf, warnings } = makeConfig({
        BROKER_URL: 'redis://localhost',
        CELERY_RESULT_BACKEND: 'redis://localhost/1',
        CELERY_TASK_RESULT_EXPIRES: 60,
        CELERYD_CONCURRENCY: 2,
        CELERYD_PREFETCH_MULTIPLIER: 1,
        CELERY_ROUTES: { 'tasks.add': 'math' },
        CELERY_DEFAULT_QUEUE: 'default',
        CELERY_SEND_EVENTS: true,
        ENABLE_UTC: false,
      });
      expect(conf.broker_url).toBe('redis://localhost');
      expect(conf.result_backend).toBe('redis://localhost/1');
      expect(conf.result_expires).toBe(60);
      expect(conf.worker_concurrency).toBe(2);
      expect(conf.worker_prefetch_multiplier).toBe(1);
      expect(conf.task_routes).toEqual({ 'tasks.add': 'math' });
      expect(conf.task_default_queue).toBe('default');
      expect(conf.worker_send_task_events).toBe(true);
      expect(conf.enable_utc).toBe(false);
      expect(warnings).toEqual([]);
    });

    it('accept the spellings Celery 5.2 silently ignores, and warn about them', () => {
      const { conf, warnings } = makeConfig({ CELERY_ENABLE_UTC: false, CELERY_RESULT_EXPIRES: 30 });
      expect(conf.enable_utc).toBe(false);
      expect(conf.result_expires).toBe(30);
      expect(warnings).toHaveLength(2);
      expect(warnings[0]).toContain('Celery 5.2 silently ignores CELERY_ENABLE_UTC');
      expect(warnings[0]).toContain('ENABLE_UTC');
      expect(warnings[1]).toContain('CELERY_TASK_RESULT_EXPIRES');
      expect(conf.warnings).toEqual(warnings);
    });

    it('name the old spelling in a value error', () => {
      expect(configError(() => makeConfig({ CELERYD_CONCURRENCY: 0 })).message).toContain('CELERYD_CONCURRENCY (worker_concurrency)');
    });

    it('conflict with the new name when both are given different values', () => {
      const err = configError(() => makeConfig({ BROKER_URL: 'redis://a', broker_url: 'redis://b' }));
      expect(err.message).toContain("'BROKER_URL' and 'broker_url' both set broker_url");
    });
  });

  describe('environment overrides', () => {
    it('CELERIAC_BROKER_URL and CELERIAC_RESULT_BACKEND win over the config', () => {
      const { conf } = makeConfig(
        { broker_url: 'redis://config', result_backend: 'redis://config/1' },
        { CELERIAC_BROKER_URL: 'memory://env', CELERIAC_RESULT_BACKEND: 'memory://env-results' },
      );
      expect(conf.broker_url).toBe('memory://env');
      expect(conf.result_backend).toBe('memory://env-results');
      expect(conf.sourceOf('broker_url')).toBe('env');
      expect(conf.sourceOf('result_backend')).toBe('env');
      expect(conf.changes().broker_url).toBe('redis://config');
    });

    it("Celery's CELERY_BROKER_URL and CELERY_RESULT_BACKEND win over the config too, and lose to celeriac's own", () => {
      const celeryEnv = { CELERY_BROKER_URL: 'redis://celery-env', CELERY_RESULT_BACKEND: 'redis://celery-env/1' };
      const { conf } = makeConfig({ broker_url: 'redis://config', result_backend: 'redis://config/1' }, celeryEnv);
      expect([conf.broker_url, conf.result_backend, conf.sourceOf('broker_url')]).toEqual([
        'redis://celery-env',
        'redis://celery-env/1',
        'env',
      ]);
      const both = makeConfig({}, { ...celeryEnv, CELERIAC_BROKER_URL: 'memory://env' }).conf;
      expect([both.broker_url, both.result_backend]).toEqual(['memory://env', 'redis://celery-env/1']);
      expect(configError(() => makeConfig({}, { CELERY_BROKER_URL: 'localhost' })).message).toContain('CELERY_BROKER_URL');
    });

    it('a broker from the environment alone disables the default backend', () => {
      const { conf } = makeConfig({}, { CELERIAC_BROKER_URL: 'redis://env' });
      expect(conf.result_backend).toBeNull();
    });

    it('an empty variable counts as unset', () => {
      const { conf } = makeConfig({}, { CELERIAC_BROKER_URL: '' });
      expect(conf.broker_url).toBe('local://.celeriac');
    });

    it('a variable that is not a URL is an error naming it', () => {
      expect(configError(() => makeConfig({}, { CELERIAC_RESULT_BACKEND: 'nope' })).message).toContain('CELERIAC_RESULT_BACKEND');
    });
  });

  describe('fromObject', () => {
    it("takes a module's named exports", () => {
      const ns = Object.freeze(Object.assign(Object.create(null), { broker_url: 'redis://x', task_ignore_result: true }));
      const { conf } = makeConfig();
      conf.fromObject(ns);
      expect(conf.broker_url).toBe('redis://x');
      expect(conf.task_ignore_result).toBe(true);
    });

    it('takes a default export (or CommonJS module.exports)', () => {
      const { conf } = makeConfig();
      conf.fromObject({ default: { task_default_queue: 'q' } });
      expect(conf.task_default_queue).toBe('q');
      const cjs = { task_default_queue: 'r' };
      conf.fromObject({ default: cjs, task_default_queue: 'r', 'module.exports': cjs });
      expect(conf.task_default_queue).toBe('r');
    });

    it('refuses a module exporting settings two ways, and non-objects', () => {
      expect(configError(() => makeConfig().conf.fromObject({ default: { a: 1 }, task_default_queue: 'q' })).message).toContain(
        'both a default export and named exports',
      );
      expect(configError(() => makeConfig().conf.fromObject('broker_url')).message).toContain('must be an object');
      expect(configError(() => makeConfig().conf.fromObject({ default: 3 })).message).toContain('default export must be an object');
    });

    it("leaves the settings given to the app's constructor, as Celery('proj', broker=...) wins over config_from_object", async () => {
      const app = createApp('proj', { broker: 'memory://ctor', backend: 'memory://ctor-results', task_default_queue: 'ctor' });
      await app.configFromObject({
        broker_url: 'redis://cfg',
        CELERY_RESULT_BACKEND: 'redis://cfg/1',
        task_default_queue: 'cfg',
        task_ignore_result: true,
      });
      expect([app.conf.broker_url, app.conf.result_backend, app.conf.task_default_queue]).toEqual([
        'memory://ctor',
        'memory://ctor-results',
        'ctor',
      ]);
      expect(app.conf.task_ignore_result).toBe(true);
      app.conf.update({ task_default_queue: 'updated' });
      expect(app.conf.task_default_queue).toBe('updated');
    });

    it('reports a misspelled key from the module', () => {
      expect(configError(() => makeConfig().conf.fromObject({ result_backned: 'redis://x' })).message).toContain(
        "Did you mean 'result_backend'?",
      );
    });
  });

  it('createApp refuses a settings object where the app name belongs, instead of running on local://', () => {
    const missingName = configError(() => createApp({ broker: 'redis://127.0.0.1:6379/0' } as unknown as string));
    expect(missingName.message).toContain("main must be the app's name, a string");
    expect(missingName.message).toContain("createApp('tasks', { broker:");
    expect(configError(() => createApp('tasks', 'redis://x' as never)).message).toContain(
      'options must be an object of settings, got string',
    );
  });

  it('createApp refuses broker or backend given together with another name for the same setting', () => {
    for (const [options, names] of [
      [{ broker: 'redis://a', broker_url: 'redis://b' }, "'broker' and 'broker_url' both set broker_url"],
      [{ BROKER_URL: 'redis://a', broker: 'redis://b' }, "'BROKER_URL' and 'broker' both set broker_url"],
      [{ backend: 'redis://a', result_backend: 'redis://b' }, "'backend' and 'result_backend' both set result_backend"],
      [{ backend: 'redis://a', CELERY_RESULT_BACKEND: 'redis://b' }, "'backend' and 'CELERY_RESULT_BACKEND' both set result_backend"],
    ] as const) {
      expect(configError(() => createApp('tasks', options)).message).toContain(names);
    }
  });

  it('toJSON() lists every setting in effect', () => {
    const json = makeConfig({ task_default_queue: 'q' }).conf.toJSON();
    expect(json.task_default_queue).toBe('q');
    expect(json.broker_url).toBe('local://.celeriac');
    expect(Object.keys(json).sort()).toEqual(Object.keys(DEFAULT_SETTINGS).sort());
  });
});
