/** The shapes of Lambda's SQS event, context and partial batch response (the parts celeriac reads). */

export interface SqsMessageAttribute {
  stringValue?: string;
  /** Base64. */
  binaryValue?: string;
  dataType: string;
}

export interface SqsRecord {
  messageId: string;
  receiptHandle: string;
  body: string;
  /** System attributes: ApproximateReceiveCount, SentTimestamp, MessageGroupId (FIFO), ... */
  attributes: Record<string, string | undefined>;
  messageAttributes: Record<string, SqsMessageAttribute>;
  eventSource: string;
  /** arn:aws:sqs:REGION:ACCOUNT:QUEUE_NAME */
  eventSourceARN: string;
  awsRegion: string;
}

export interface SqsEvent {
  Records: SqsRecord[];
}

export interface LambdaContext {
  functionName: string;
  awsRequestId: string;
  getRemainingTimeInMillis(): number;
}

export interface SqsBatchResponse {
  batchItemFailures: Array<{ itemIdentifier: string }>;
}
