/** The sqs:// broker: one SQS queue per celeriac queue, settle calls mapped by lease.ts. */
import { GetQueueAttributesCommand, PurgeQueueCommand, SQSClient } from '@aws-sdk/client-sqs';
import type { TaskMessage } from '../../core/message.js';
import type { Broker, ConsumeOptions, Consumer, Delivery, KeyValueStore } from '../../core/ports.js';
import { awsClient } from '../../core/provider-options.js';
import { openStore } from '../../core/registry.js';
import type { LeaseContext } from './lease.js';
import { MAX_WAIT_S } from './limits.js';
import type { SqsOptions } from './options.js';
import { QueueDirectory } from './queues.js';
import { PublishBatches } from './publish-batches.js';
import { toOutgoing } from './send.js';
import { SettleBatches } from './settle-batches.js';

export interface SqsBrokerDeps {
  /** A client to use (a Lambda's shared client, or one with request counting); else one is made from the URL. */
  client?: SQSClient;
  /** The claim-check store to use instead of opening the URL's claim_check. */
  claimCheckStore?: KeyValueStore;
  /** broker_transport_options, handed to the claim-check store when it is opened from its URL. */
  transportOptions?: Record<string, unknown>;
  /** broker_connection_timeout (ms), handed to the claim-check store likewise: how long a send waits for it when it is unreachable. */
  connectTimeoutMs?: number;
}

export class SqsBroker implements Broker {
  readonly client: SQSClient;
  readonly queues: QueueDirectory;
  readonly #ownsClient: boolean;
  readonly #settle: SettleBatches;
  readonly #publish: PublishBatches;
  readonly #context: LeaseContext;
  readonly #consumers = new Set<Consumer & { abort(): Promise<void> }>();
  #claimStore: Promise<KeyValueStore> | undefined;
  #ownsClaimStore = false;
  #closed = false;

  constructor(
    readonly url: string,
    readonly options: SqsOptions,
    deps: SqsBrokerDeps = {},
  ) {
    this.#ownsClient = !deps.client;
    // A long poll is answered after up to 20 s (MAX_WAIT_S): 10 s more for the answer to arrive.
    this.client = deps.client ?? awsClient(SQSClient, url, options, 'SQS', (MAX_WAIT_S + 10) * 1000);
    this.queues = new QueueDirectory(this.client, options);
    this.#settle = new SettleBatches(this.client);
    this.#publish = new PublishBatches(this.client, options.maxMessageBytes);
    if (deps.claimCheckStore) this.#claimStore = Promise.resolve(deps.claimCheckStore);
    const claimUrl = options.claimCheck;
    const claimCheck =
      deps.claimCheckStore || claimUrl
        ? () => {
            if (!this.#claimStore && claimUrl) {
              this.#ownsClaimStore = true;
              this.#claimStore = openStore(claimUrl, {
                transportOptions: deps.transportOptions ?? {},
                connectTimeoutMs: deps.connectTimeoutMs,
              });
            }
            return this.#claimStore as Promise<KeyValueStore>;
          }
        : undefined;
    this.#context = {
      client: this.client,
      queues: this.queues,
      settle: this.#settle,
      publish: this.#publish,
      visibilityTimeoutMs: options.visibilityTimeoutMs,
      maxMessageBytes: options.maxMessageBytes,
      claimCheck,
    };
  }

  async publish(queue: string, messages: TaskMessage[]): Promise<void> {
    if (messages.length === 0) return;
    const q = await this.queues.get(queue);
    // Every message is checked (and stored aside if need be) before any is sent.
    const entries = await Promise.all(messages.map((m) => toOutgoing(q, m, this.#context)));
    await this.#publish.send(q, entries);
  }

  async consume(queues: string[], handler: (d: Delivery) => Promise<void>, opts: ConsumeOptions): Promise<Consumer> {
    // Resolve every queue first: a missing one fails here, clearly, not in the loop.
    const resolved = await Promise.all(queues.map((q) => this.queues.get(q)));
    // Loaded on demand: a producer or a Lambda never consumes.
    const { consumeQueues } = await import('./receive.js');
    const started = consumeQueues(resolved, this.#context, this.options.waitTimeSeconds, handler, opts);
    const consumer = {
      stop: () => started.stop(),
      stopWithinMs: started.stopWithinMs,
      abort: async () => {
        this.#consumers.delete(consumer);
        await started.abort();
      },
    };
    this.#consumers.add(consumer);
    return consumer;
  }

  /**
   * The context this broker's leases are settled through, with another settle batcher: a Lambda
   * handler's per-invocation one (deploy/aws/lambda-delivery.ts), so event records are settled
   * exactly as the consumer's messages are, on the same client, queues, publisher and claim check.
   */
  leaseContext(settle: SettleBatches): LeaseContext {
    return { ...this.#context, settle };
  }

  /**
   * SQS's PurgeQueue: removes every message, including those in flight, and AWS allows it once
   * per 60 s per queue. It reports no count: the number returned is SQS's approximate count just before.
   */
  async purge(queue: string): Promise<number> {
    const q = await this.queues.get(queue);
    const waiting = await this.size(queue);
    await this.client.send(new PurgeQueueCommand({ QueueUrl: q.url }));
    return waiting;
  }

  /** Waiting messages, visible or delayed (SQS's approximate counts). */
  async size(queue: string): Promise<number> {
    const q = await this.queues.get(queue);
    const out = await this.client.send(
      new GetQueueAttributesCommand({
        QueueUrl: q.url,
        AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesDelayed'],
      }),
    );
    return Number(out.Attributes?.ApproximateNumberOfMessages ?? 0) + Number(out.Attributes?.ApproximateNumberOfMessagesDelayed ?? 0);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await Promise.all([...this.#consumers].map((c) => c.abort()));
    await Promise.all([this.#publish.drain(), this.#settle.drain()]);
    if (this.#ownsClaimStore) await this.#claimStore?.then((s) => s.close()).catch(() => undefined);
    if (this.#ownsClient) this.client.destroy();
  }
}
