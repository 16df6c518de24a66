/** The Lambda function and event source settings `celeriac build --target aws` takes, with their defaults. */

export interface AwsFunctionOptions {
  /** Lambda runtime; nodejs22.x by default (Node 20 is past end of life, emulators.md). */
  runtime: string;
  /** Function timeout, seconds (Lambda: 1–900). */
  timeoutS: number;
  /** Function memory, MB (Lambda: 128–10240). */
  memoryMb: number;
  /** Records per invocation (event source mapping BatchSize). */
  batchSize: number;
  /** Seconds the event source may wait to fill a batch (MaximumBatchingWindowInSeconds). */
  batchingWindowS: number;
  /** Concurrent invocations per queue (ScalingConfig.MaximumConcurrency, 2–1000). */
  maxConcurrency: number;
}

export const AWS_FUNCTION_DEFAULTS: Readonly<AwsFunctionOptions> = {
  runtime: 'nodejs22.x',
  timeoutS: 60,
  memoryMb: 512,
  batchSize: 10,
  batchingWindowS: 0,
  maxConcurrency: 10,
};
