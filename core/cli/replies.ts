/**
 * Printing remote-control replies (§6: each reply is `{ "<nodename>": payload }`) the way
 * Celery's inspect / control / status commands show them.
 */
import type { ControlReply } from '../ports.js';
import { CliExit } from './exit.js';

export interface NodeReply {
  node: string;
  payload: unknown;
  /** The handler answered `{ error: ... }`. */
  failed: boolean;
}

export function nodeReplies(replies: readonly ControlReply[]): NodeReply[] {
  return replies
    .flatMap((reply) => Object.entries(reply))
    .map(([node, payload]) => ({ node, payload, failed: isObject(payload) && 'error' in payload }))
    .sort((a, b) => a.node.localeCompare(b.node));
}

/** No node answered: exit 69 (EX_UNAVAILABLE), as Celery's inspect, control and status do. */
export function noReplies(timeoutMs: number, broker: string): CliExit {
  return new CliExit(
    `No nodes replied within ${timeoutMs / 1000}s. Is a worker running against ${broker}? (a slow machine may need --timeout)`,
    69,
  );
}

/** inspect -j and status -j: one JSON object keyed by node, as Celery prints them. */
export function repliesJson(nodes: readonly NodeReply[]): string {
  return JSON.stringify(Object.fromEntries(nodes.map((n) => [n.node, n.payload])));
}

export function onlineSummary(count: number): string {
  return `${count} ${count === 1 ? 'node' : 'nodes'} online.`;
}

/** The payload's lines, indented under the node's status line. */
export function payloadLines(payload: unknown, indent = '    '): string[] {
  if (isObject(payload) && typeof payload.error === 'string') return [indent + payload.error];
  if (isObject(payload) && typeof payload.ok === 'string') return [indent + payload.ok];
  if (Array.isArray(payload)) {
    if (!payload.length) return [`${indent}- empty -`];
    return payload.map((item) => `${indent}* ${typeof item === 'string' ? item : JSON.stringify(item)}`);
  }
  if (typeof payload === 'string') return [indent + payload];
  return JSON.stringify(payload, null, 2)
    .split('\n')
    .map((line) => indent + line);
}

export function statusOf(reply: NodeReply): 'OK' | 'ERROR' {
  return reply.failed ? 'ERROR' : 'OK';
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
