/**
 * The built CloudFormation template's queues and table created in the emulators, as the
 * stack would create them on AWS (dead-letter queues first, so RedrivePolicy can name their
 * ARNs), and its event source mappings read back for the test poller.
 */
import { CreateTableCommand, type CreateTableCommandInput, type DynamoDBClient, UpdateTimeToLiveCommand } from '@aws-sdk/client-dynamodb';
import { CreateQueueCommand, GetQueueAttributesCommand, type SQSClient } from '@aws-sdk/client-sqs';

type Json = Record<string, unknown>;
export interface Template {
  Resources: Record<string, { Type: string; Properties: Json; DependsOn?: string[] }>;
}

export interface LocalQueue {
  name: string;
  url: string;
  arn: string;
}

export interface LocalMapping {
  queue: LocalQueue;
  batchSize: number;
  batchingWindowS: number;
  maxConcurrency: number;
}

export interface LocalStack {
  queues: Map<string, LocalQueue>;
  mappings: LocalMapping[];
}

const getAttArn = (value: unknown): string | undefined => {
  const att = (value as { 'Fn::GetAtt'?: [string, string] })?.['Fn::GetAtt'];
  return att?.[1] === 'Arn' ? att[0] : undefined;
};

export async function createStack(template: Template, sqs: SQSClient, dynamodb: DynamoDBClient): Promise<LocalStack> {
  const queues = new Map<string, LocalQueue>();
  const entries = Object.entries(template.Resources);
  const queueEntries = entries.filter(([, r]) => r.Type === 'AWS::SQS::Queue');
  // Queues without a RedrivePolicy (the DLQs) first.
  queueEntries.sort(([, a], [, b]) => Number('RedrivePolicy' in a.Properties) - Number('RedrivePolicy' in b.Properties));
  for (const [id, { Properties: p }] of queueEntries) {
    const attributes: Record<string, string> = {};
    for (const [key, value] of Object.entries(p)) {
      if (key === 'QueueName') continue;
      if (key === 'RedrivePolicy') {
        const policy = value as { deadLetterTargetArn: unknown; maxReceiveCount: number };
        const target = queues.get(getAttArn(policy.deadLetterTargetArn) ?? '');
        if (!target) throw new Error(`${id}: RedrivePolicy names an unknown queue`);
        attributes.RedrivePolicy = JSON.stringify({ deadLetterTargetArn: target.arn, maxReceiveCount: policy.maxReceiveCount });
      } else {
        attributes[key] = String(value);
      }
    }
    const name = p.QueueName as string;
    const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: name, Attributes: attributes }));
    const { Attributes } = await sqs.send(new GetQueueAttributesCommand({ QueueUrl, AttributeNames: ['QueueArn'] }));
    queues.set(id, { name, url: QueueUrl as string, arn: Attributes?.QueueArn as string });
  }
  for (const [, { Properties: p }] of entries.filter(([, r]) => r.Type === 'AWS::DynamoDB::Table')) {
    const { TimeToLiveSpecification, ...table } = p as unknown as CreateTableCommandInput & {
      TimeToLiveSpecification: { AttributeName: string };
    };
    await dynamodb.send(new CreateTableCommand(table as CreateTableCommandInput));
    await dynamodb
      .send(
        new UpdateTimeToLiveCommand({ TableName: table.TableName, TimeToLiveSpecification: { ...TimeToLiveSpecification, Enabled: true } }),
      )
      .catch((err: Error) => {
        // dynalite has no TTL API (emulators.md); reads treat expired items as gone anyway.
        if (err.name !== 'UnknownOperationException') throw err;
      });
  }
  const mappings = entries
    .filter(([, r]) => r.Type === 'AWS::Lambda::EventSourceMapping')
    .map(([, { Properties: p }]): LocalMapping => {
      const queue = queues.get(getAttArn(p.EventSourceArn) ?? '');
      if (!queue) throw new Error('an event source mapping names an unknown queue');
      return {
        queue,
        batchSize: p.BatchSize as number,
        batchingWindowS: (p.MaximumBatchingWindowInSeconds as number | undefined) ?? 0,
        maxConcurrency: (p.ScalingConfig as { MaximumConcurrency: number }).MaximumConcurrency,
      };
    });
  return { queues, mappings };
}
