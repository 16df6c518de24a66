/** kombu's JSON envelope (celery-protocol.md §2.1) and the defects that break a Python worker (§10). */
import { describe, expect, it } from 'vitest';
import { decodeEnvelope, encodeEnvelope } from '../../core/envelope.js';
import { MalformedMessage } from '../../core/errors.js';
import { taskMessage } from '../conformance/helpers.js';

const msg = taskMessage('celery', [4, 4]);
// biome-ignore lint/suspicious/noExplicitAny: tests poke at arbitrary envelope fields
const envelope = (): Record<string, any> => JSON.parse(encodeEnvelope(msg, { deliveryTag: 'tag-1' }));
const decodeObj = (env: unknown) => decodeEnvelope(JSON.stringify(env));
const reason = (env: unknown): string => {
  try {
    decodeObj(env);
  } catch (err) {
    expect(err).toBeInstanceOf(MalformedMessage);
    return (err as Error).message;
  }
  throw new Error('decoded without complaint');
};

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
