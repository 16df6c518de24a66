/** kombu's JSON envelope (celery-protocol.md §2.1) and the defects that break a Python worker (§10). */
import { describe, expect, it } from 'vitest';
import { decodeEnvelope, encodeEnvelope } from '../../core/envelope.js';
import { MalformedMessage } from '../../core/errors.js';
import { parseCeleryTime } from '../../core/message.js';
import { taskMessage } from '../conformance/helpers.js';
import { thrownMessage } from '../core/helpers.js';

const msg = taskMessage('celery', [4, 4]);
// biome-ignore lint/suspicious/noExplicitAny: tests poke at arbitrary envelope fields
const envelope = (): Record<string, any> => JSON.parse(encodeEnvelope(msg, { deliveryTag: 'tag-1' }));
const decodeObj = (env: unknown) => decodeEnvelope(JSON.stringify(env));
const reason = (env: unknown): string => thrownMessage(() => decodeObj(env), MalformedMessage);

describe('the kombu envelope', () => {
  it('is written with exactly the keys a Python 5.2.6 producer writes', () => {
    const env = envelope();
    expect(Object.keys(env)).toEqual(['body', 'content-encoding', 'content-type', 'headers', 'properties']);
    expect(Object.keys(env.properties)).toEqual([
      'correlation_id',
      'reply_to',
      'delivery_mode',
      'delivery_info',
      'priority',
      'body_encoding',
      'delivery_tag',
    ]);
    expect(env.properties).toMatchObject({
      delivery_info: { exchange: '', routing_key: 'celery' },
      body_encoding: 'base64',
      delivery_tag: 'tag-1',
    });
    expect(Buffer.from(env.body, 'base64').toString()).toBe(msg.body);
    expect(env.headers).toEqual(msg.headers);
  });

  it('carries expiration only when set, and a fresh uuid4 delivery tag by default', () => {
    const env = JSON.parse(encodeEnvelope({ ...msg, properties: { ...msg.properties, expiration: '60000' } }));
    expect(env.properties.expiration).toBe('60000');
    expect(env.properties.delivery_tag).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('round-trips a message', () => {
    expect(decodeEnvelope(encodeEnvelope(msg))).toEqual(msg);
  });

  it('accepts what Python accepts: only {id, task} headers, a plain body, no priority', () => {
    const decoded = decodeObj({
      body: '[[1], {}, {}]',
      'content-type': 'application/json',
      'content-encoding': 'utf-8',
      headers: { id: 'abc', task: 'tasks.add' },
      properties: { delivery_info: { exchange: '', routing_key: 'q' }, delivery_tag: 't' },
    });
    expect(decoded).toMatchObject({
      body: '[[1], {}, {}]',
      queue: 'q',
      headers: { id: 'abc', task: 'tasks.add', retries: 0, root_id: 'abc', eta: null },
    });
    expect(decoded.properties).toMatchObject({ priority: 0, delivery_mode: 2 });
  });

  it('refuses each defect that kills a Python worker, saying which (§10)', () => {
    const noInfo = envelope();
    delete noInfo.properties.delivery_info;
    expect(reason(noInfo)).toMatch(/delivery_info missing/);
    const noExchange = envelope();
    delete noExchange.properties.delivery_info.exchange;
    expect(reason(noExchange)).toMatch(/delivery_info.exchange/);
    const noTag = envelope();
    delete noTag.properties.delivery_tag;
    expect(reason(noTag)).toMatch(/delivery_tag missing/);
    const utf8 = envelope();
    utf8.properties.body_encoding = 'utf-8';
    expect(reason(utf8)).toMatch(/body_encoding must be "base64"/);
    const twoParts = envelope();
    twoParts.body = Buffer.from('[[1], {}]').toString('base64');
    expect(reason(twoParts)).toMatch(/3-element array/);
    const noType = envelope();
    delete noType['content-type'];
    expect(reason(noType)).toMatch(/content-type/);
  });

  it('refuses bad JSON and wrong types with a precise reason, never another error', () => {
    expect(() => decodeEnvelope('{')).toThrow(MalformedMessage);
    expect(reason([1])).toMatch(/must be a JSON object/);
    const badRetries = envelope();
    badRetries.headers.retries = 'two';
    expect(reason(badRetries)).toMatch(/headers.retries/);
    const badEta = envelope();
    badEta.headers.eta = 'tomorrow';
    expect(reason(badEta)).toMatch(/headers.eta/);
    const badBase64 = envelope();
    badBase64.body = '###';
    expect(reason(badBase64)).toMatch(/base64/);
    const noTask = envelope();
    delete noTask.headers.task;
    expect(reason(noTask)).toMatch(/headers.task/);
    const badArgs = envelope();
    badArgs.body = Buffer.from('[{}, {}, {}]').toString('base64');
    expect(reason(badArgs)).toMatch(/args must be an array/);
    expect(() => decodeEnvelope(null as unknown as string)).toThrow(MalformedMessage);
  });

  // The check used to be Date.parse, which reads these; the scheduler did not, so the first two
  // ran at once and the expired one ran instead of being REVOKED.
  it('refuses an eta or expires that is not ISO 8601 as the scheduler reads it', () => {
    const cases: [string, string][] = [
      ['eta', 'Mon, 01 Jan 2035 00:00:00 GMT'],
      ['eta', '5'],
      ['expires', 'Mon, 01 Jan 2001 00:00:00 GMT'],
      ['eta', '2030-02-30T10:00:00'],
    ];
    for (const [key, value] of cases) {
      const env = envelope();
      env.headers[key] = value;
      expect(reason(env)).toBe(`malformed message: headers.${key} is not an ISO-8601 time: ${JSON.stringify(value)}`);
    }
    const naive = envelope();
    naive.headers.eta = '2030-01-01 10:00';
    naive.headers.expires = '2030-01-02T10:00:00.5-08:00';
    expect(decodeObj(naive).headers).toMatchObject({ eta: '2030-01-01 10:00', expires: '2030-01-02T10:00:00.5-08:00' });
  });

  it('reads a Celery time as Celery does: no offset means UTC, a date alone is midnight', () => {
    const utc = (text: string) => new Date(parseCeleryTime(text)).toISOString();
    expect(utc('2030-01-01T10:00:00')).toBe('2030-01-01T10:00:00.000Z');
    expect(utc('2030-01-01T10:00:00.123456+00:00')).toBe('2030-01-01T10:00:00.123Z');
    expect(utc('2030-01-01T10:00+05:30')).toBe('2030-01-01T04:30:00.000Z');
    expect(utc('2030-1-2 03:04:05.5Z')).toBe('2030-01-02T03:04:05.500Z');
    expect(utc('2030-01-01')).toBe('2030-01-01T00:00:00.000Z');
    for (const text of ['2030', '2030-01', '2030-13-01', '2030-01-01T24:00', '2030-01-01T10:00+24:00', '2030-01-01T10:00:00 junk']) {
      expect(parseCeleryTime(text), text).toBeNaN();
    }
  });

  it('inflates a zlib-compressed body (kombu application/x-gzip)', async () => {
    const { deflateSync } = await import('node:zlib');
    const env = envelope();
    env.headers.compression = 'application/x-gzip';
    env.body = deflateSync(Buffer.from(msg.body)).toString('base64');
    const decoded = decodeObj(env);
    expect(decoded.body).toBe(msg.body);
    expect(decoded.headers.compression).toBeUndefined();
  });
});
