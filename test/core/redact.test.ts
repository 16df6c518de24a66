/**
 * redact() and redactValue(): what banners, logs, errors and the conf reply show of a URL or a
 * setting never holds its secrets, however the URL is written or wherever in the text it is.
 */
import { describe, expect, it } from 'vitest';
import { Config } from '../../core/config/config.js';
import { redact, redactValue } from '../../core/registry.js';
import { confReply } from '../../core/worker/conf-reply.js';
import { thrownMessage } from './helpers.js';

const encoded = encodeURIComponent;

describe('redact', () => {
  it.each([
    ['redis://:s3cret@host:6379/0', 'redis://:**@host:6379/0'],
    ['redis://user:s3cret@host/0', 'redis://user:**@host/0'],
    ['REDIS://:s3cret@host/0#frag', 'REDIS://:**@host/0#frag'],
    // The user info runs to the last '@', whatever the password holds.
    ['redis://:p@ss@host/0', 'redis://:**@host/0'],
    ['redis://:pa/ss@host/0', 'redis://:**@host/0'],
    ['redis://:pa?ss@host/0', 'redis://:**@host/0'],
    ['redis://:pa#ss@host/0', 'redis://:**@host/0'],
    ['redis://:p%40ss@host/0', 'redis://:**@host/0'],
    ['redis://:100%pure@host/0', 'redis://:**@host/0'],
    ['redis://:pässwörd@host/0', 'redis://:**@host/0'],
    ['redis://me@corp:pw@h/0', 'redis://me@corp:**@h/0'],
    ['redis://:s3cret@[::1]:6379/0', 'redis://:**@[::1]:6379/0'],
    ['sqs://AKIA:s3/cret@', 'sqs://AKIA:**@'],
    // Ambiguous: an '@' in the query may end a password; more is hidden rather than less.
    ['redis://me@h:6379/0?a=b:c@d', 'redis://me@h:**@d'],
    // Nothing to hide.
    ['redis://h:6379/0?ssl_cert_reqs=none', 'redis://h:6379/0?ssl_cert_reqs=none'],
    ['redis://user@[::1]:6379/0', 'redis://user@[::1]:6379/0'],
    ['local://.celeriac', 'local://.celeriac'],
    ['celery@host:5 is up', 'celery@host:5 is up'],
  ])('hides the password of %s', (url, shown) => {
    expect(redact(url)).toBe(shown);
  });

  it('hides the passwords of every URL in a text, wherever they are', () => {
    expect(redact('redis://:s1@a:6379/0;redis://:s2@b:6379/0')).toBe('redis://:**@a:6379/0;redis://:**@b:6379/0');
    expect(redact(' redis://:s3cret@h/0')).toBe(' redis://:**@h/0');
    expect(redact(`(got ["redis://:s1@h/0","redis://:s2@h/0"])`)).toBe(`(got ["redis://:**@h/0","redis://:**@h/0"])`);
    expect(redact("Broker 'redis://:s1@h/0' and\n'rediss://u:s2@h/0'")).toBe("Broker 'redis://:**@h/0' and\n'rediss://u:**@h/0'");
    // An endpoint written without its scheme's '://' still has its password hidden.
    expect(redact('https//AK:s3cret@h')).toBe('https//AK:**@h');
  });

  it('hides the values of query options named like secrets, as Celery hides such settings', () => {
    expect(redact('redis://h/0?password=s3cret')).toBe('redis://h/0?password=**');
    expect(redact('https://b.s3.amazonaws.com/k?X-Amz-Credential=AK&X-Amz-Signature=abc&x-id=GetObject')).toBe(
      'https://b.s3.amazonaws.com/k?X-Amz-Credential=**&X-Amz-Signature=**&x-id=GetObject',
    );
    expect(redact("'dynamodb://t?region=us-east-1&token=s3cret' is wrong")).toBe("'dynamodb://t?region=us-east-1&token=**' is wrong");
    // Named so, but no secret: a prefix, a file's path.
    expect(redact('rediss://h/0?global_keyprefix=app:&ssl_keyfile=/c.key')).toBe('rediss://h/0?global_keyprefix=app:&ssl_keyfile=/c.key');
  });

  it('hides the secrets of the URLs a query carries, encoded or not', () => {
    const store = 'redis://:s3cret@h/0';
    expect(redact(`sqs://?claim_check=${encoded(store)}`)).toBe(`sqs://?claim_check=${encoded('redis://:**@h/0')}`);
    expect(redact(`sqs://?claim_check=${store}`)).toBe('sqs://?claim_check=redis://:**@h/0');
    expect(redact('sqs://?endpoint=http://localhost:4566/?X-Amz-Security-Token=s3cret')).toBe(
      'sqs://?endpoint=http://localhost:4566/?X-Amz-Security-Token=**',
    );
    // A malformed escape does not stop the decoding (it is kept, as Python's unquote keeps it).
    expect(redact(`sqs://?claim_check=${encoded(store)}%zz`)).toBe(`sqs://?claim_check=${encoded('redis://:**@h/0%zz')}`);
    expect(redact('sqs://?endpoint=http://u:s3cret%zz@localhost')).toBe('sqs://?endpoint=http://u:**@localhost');
  });

  it('shows a redacted URL as it is', () => {
    for (const url of ['redis://:**@h/0', 'sqs://?claim_check=redis%3A%2F%2F%3A**%40h%2F0', 'redis://h/0?password=**'])
      expect(redact(url)).toBe(url);
  });
});

describe('redactValue (the conf reply, check-config, config errors)', () => {
  it('hides secrets in nested settings as Celery filter_hidden_settings does, and passwords in every string', () => {
    const options = {
      visibility_timeout: 3600,
      sentinel_kwargs: { password: 's3cret', db: 0 },
      api_key: 'abc',
      hosts: ['redis://:s1@a/0', 'redis://:s2@b/0'],
      nested: { store: 'redis://:s3@h/0' },
    };
    expect(redactValue(options)).toEqual({
      visibility_timeout: 3600,
      sentinel_kwargs: { password: '********', db: 0 },
      api_key: '********',
      hosts: ['redis://:**@a/0', 'redis://:**@b/0'],
      nested: { store: 'redis://:**@h/0' },
    });
    const reply = confReply({ ...new Config().toJSON(), broker_url: 'redis://:s0@h/0', broker_transport_options: options }, false);
    expect(JSON.stringify(reply)).not.toMatch(/s3cret|abc|s[0-3]@/);
    expect(reply.broker_url).toBe('redis://:**@h/0');
  });

  it('never echoes a password in a config error', () => {
    const messages = [
      thrownMessage(() => new Config().update({ broker_url: ' redis://:s3cret@h/0' })),
      thrownMessage(() => new Config().update({ broker_url: ['redis://:s3cretA@h/0', 'redis://:s3cretB@h/0'] })),
      thrownMessage(() => new Config().fromObject({ BROKER_URL: 'redis://:s3cretOLD@h/0', broker_url: 'redis://:s3cretNEW@h/0' })),
      thrownMessage(() => new Config(undefined, { env: { CELERY_BROKER_URL: ' redis://:s3cret@h/0' } })),
    ];
    expect(messages[2]).toContain('to "redis://:**@h/0" and "redis://:**@h/0"');
    for (const m of messages) expect(m).not.toContain('s3cret');
  });
});
