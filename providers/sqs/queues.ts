/**
 * From a celeriac queue name to its SQS queue URL: one SQS queue per queue name (with the
 * URL's prefix), its dead-letter queue named `<name>-dlq` (`<base>-dlq.fifo` for FIFO queues:
 * a FIFO queue's DLQ must be FIFO too). A missing queue is created only with create=true;
 * otherwise it is a ConfigError naming the queue and the flag — never created silently.
 */
import { GetQueueUrlCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { ConfigError } from '../../core/errors.js';
import { redact } from '../../core/registry.js';
import type { SqsOptions } from './options.js';

export interface SqsQueue {
  /** The celeriac queue name (routing key). */
  name: string;
  /** The SQS queue name: prefix + name. */
  sqsName: string;
  url: string;
  /** `.fifo` queues: ordered per message group, deduplicated, no per-message delay. */
  fifo: boolean;
}

/** SQS queue names: 1–80 letters, digits, '-' and '_', FIFO ones ending in '.fifo' (within the 80). */
const VALID_NAME = /^[A-Za-z0-9_-]+(\.fifo)?$/;
const MAX_NAME = 80;

export const isMissingQueue = (err: unknown): boolean =>
  (err as Error)?.name === 'QueueDoesNotExist' || (err as Error)?.name === 'AWS.SimpleQueueService.NonExistentQueue';

export function deadLetterName(sqsName: string): string {
  return sqsName.endsWith('.fifo') ? `${sqsName.slice(0, -5)}-dlq.fifo` : `${sqsName}-dlq`;
}

/** Throws a ConfigError unless SQS accepts the queue's name and its dead-letter queue's (4 characters longer). */
export function checkQueueName(name: string, sqsName: string): void {
  const dlq = deadLetterName(sqsName);
  if (VALID_NAME.test(sqsName) && dlq.length <= MAX_NAME) return;
  throw new ConfigError(
    `Queue '${name}' gives the SQS queue name '${sqsName}' and the dead-letter queue '${dlq}', which SQS refuses: ` +
      `use letters, digits, '-' or '_' (and '.fifo' at the end for a FIFO queue), at most ${MAX_NAME - 4} characters with the prefix, '-dlq' making ${MAX_NAME}.`,
  );
}

/** The indexes of items, grouped by queue URL in first-seen order (a batch request goes to one queue). */
export function indexesByQueue<T>(items: readonly T[], urlOf: (item: T) => string): Map<string, number[]> {
  const groups = new Map<string, number[]>();
  items.forEach((item, i) => {
    const url = urlOf(item);
    const group = groups.get(url);
    if (group) group.push(i);
    else groups.set(url, [i]);
  });
  return groups;
}

export class QueueDirectory {
  readonly #queues = new Map<string, Promise<SqsQueue>>();
  readonly #deadLetterUrls = new Map<string, Promise<string>>();

  constructor(
    private readonly client: SQSClient,
    private readonly opts: SqsOptions,
  ) {}

  /** The queue for a celeriac queue name, looked up once (GetQueueUrl) and cached. */
  get(name: string): Promise<SqsQueue> {
    let found = this.#queues.get(name);
    if (!found) {
      found = this.#resolve(name);
      this.#queues.set(name, found);
      // A failure is not cached: the queue may be created later.
      found.catch(() => this.#queues.delete(name));
    }
    return found;
  }

  /** The URL of a queue's dead-letter queue. */
  deadLetterUrl(queue: SqsQueue): Promise<string> {
    let found = this.#deadLetterUrls.get(queue.name);
    if (!found) {
      const dlqName = deadLetterName(queue.sqsName);
      found = this.#lookup(dlqName).then(
        (url) =>
          url ??
          (this.opts.create
            ? import('./create-queue.js').then(({ createDeadLetterQueue }) => createDeadLetterQueue(this.client, this.opts, dlqName))
            : Promise.reject(this.#missing(dlqName, queue.name, true))),
      );
      this.#deadLetterUrls.set(queue.name, found);
      found.catch(() => this.#deadLetterUrls.delete(queue.name));
    }
    return found;
  }

  async #resolve(name: string): Promise<SqsQueue> {
    const sqsName = `${this.opts.prefix}${name}`;
    checkQueueName(name, sqsName);
    const fifo = sqsName.endsWith('.fifo');
    const url = (await this.#lookup(sqsName)) ?? (this.opts.create ? await this.#create(sqsName, fifo) : undefined);
    if (!url) throw this.#missing(sqsName, name, false);
    return { name, sqsName, url, fifo };
  }

  async #lookup(sqsName: string): Promise<string | undefined> {
    try {
      return (await this.client.send(new GetQueueUrlCommand({ QueueName: sqsName }))).QueueUrl;
    } catch (err) {
      if (isMissingQueue(err)) return undefined;
      throw err;
    }
  }

  /** The dead-letter queue first, so the queue's RedrivePolicy can name it. */
  async #create(sqsName: string, fifo: boolean): Promise<string> {
    const dlqUrl = await this.deadLetterUrl({ name: sqsName.slice(this.opts.prefix.length), sqsName, url: '', fifo });
    const { createQueue } = await import('./create-queue.js');
    return createQueue(this.client, this.opts, sqsName, dlqUrl);
  }

  #missing(sqsName: string, name: string, deadLetter: boolean): ConfigError {
    const what = deadLetter
      ? `The dead-letter queue '${sqsName}' of queue '${name}'`
      : `The SQS queue '${sqsName}' (celeriac queue '${name}')`;
    return new ConfigError(
      `${what} does not exist${this.opts.endpoint ? ` at ${redact(this.opts.endpoint)}` : ''}. Create it (deploy the infrastructure), or add create=true to the sqs:// URL to create missing queues (development only).`,
    );
  }
}
