/**
 * Counts the requests an AWS SDK v3 client sends (SQS bills per request), by command, with a
 * middleware inside the SDK's retry loop, so a retried call counts once per attempt. Works on
 * any v3 client (SQSClient, DynamoDBClient). For the bench's "requests per task":
 *
 *   const counts = countRequests(broker.client); ...; counts.total / tasks
 */

/** The part of a v3 client's middleware stack this needs (kept structural: no @smithy import). */
interface CountableClient {
  middlewareStack: {
    add(middleware: unknown, options: { step: 'finalizeRequest'; priority: 'low'; name: string }): void;
    remove(name: string): boolean;
  };
}

export interface RequestCounts {
  readonly total: number;
  /** Attempts per command name, e.g. { SendMessageBatchCommand: 100, ReceiveMessageCommand: 104 }. */
  readonly byCommand: Readonly<Record<string, number>>;
  reset(): void;
  /** Remove the middleware. */
  detach(): void;
}

let attached = 0;

export function countRequests(client: CountableClient): RequestCounts {
  const byCommand: Record<string, number> = {};
  let total = 0;
  const name = `celeriacRequestCounter${++attached}`;
  const middleware =
    (next: (args: unknown) => Promise<unknown>, context: { commandName?: string }) =>
    (args: unknown): Promise<unknown> => {
      total++;
      const command = context.commandName ?? 'unknown';
      byCommand[command] = (byCommand[command] ?? 0) + 1;
      return next(args);
    };
  // finalizeRequest/low runs inside the retry middleware (finalizeRequest/high): once per HTTP attempt.
  client.middlewareStack.add(middleware, {
    step: 'finalizeRequest',
    priority: 'low',
    name,
  });
  return {
    get total() {
      return total;
    },
    byCommand,
    reset() {
      total = 0;
      for (const key of Object.keys(byCommand)) delete byCommand[key];
    },
    detach() {
      client.middlewareStack.remove(name);
    },
  };
}
