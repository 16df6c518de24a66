/**
 * Broker key names. Queue lists, bindings and the unacked structures are kombu 5.2.4's (§2.2), so
 * Python and celeriac workers share them; the dead-letter keys (and the delayed sets of celeriac
 * 0.1) are celeriac's own (kombu has neither) and named so no kombu queue can collide with them.
 */

/** kombu's separator between a queue name and its priority step, and inside binding members (§2.2). */
export const SEP = '\x06\x16';
/** kombu's default priority_steps: messages are floored to one of these (§2.2). */
export const PRIORITY_STEPS = [0, 3, 6, 9] as const;

export function priorityStep(priority: number | undefined): number {
  const p = Math.min(9, Math.max(0, Math.floor(priority ?? 0)));
  let step = 0;
  for (const s of PRIORITY_STEPS) if (p >= s) step = s;
  return step;
}

export class BrokerKeys {
  readonly unacked: string;
  readonly unackedIndex: string;
  readonly unackedMutex: string;

  constructor(readonly prefix: string) {
    this.unacked = `${prefix}unacked`;
    this.unackedIndex = `${prefix}unacked_index`;
    this.unackedMutex = `${prefix}unacked_mutex`;
  }

  /** The list a message of this priority goes to: the bare name for step 0, `name\x06\x16<step>` otherwise. */
  list(queue: string, priority = 0): string {
    const step = priorityStep(priority);
    return step === 0 ? `${this.prefix}${queue}` : `${this.prefix}${queue}${SEP}${step}`;
  }

  /** Every list of a queue, in kombu's serving order (lowest step first). */
  lists(queue: string): string[] {
    return PRIORITY_STEPS.map((s) => this.list(queue, s));
  }

  /** `_kombu.binding.<exchange>`: Celery declares each queue bound to an exchange of the same name (§1.5). */
  binding(exchange: string): string {
    return `${this.prefix}_kombu.binding.${exchange}`;
  }

  /**
   * Where celeriac 0.1 kept ETA/retry messages it had fetched early (scored by due time in epoch
   * ms), out of a Python worker's reach; consumers still promote what is left there. Such
   * messages now stay in unacked until due (scripts/delay-message.ts).
   */
  delayed(queue: string): string {
    return `${this.prefix}${queue}.celeriac.delayed`;
  }

  /** The reply of one fetch call, kept for the call re-sent after its reply was lost (scripts/fetch-and-lease.ts). */
  fetchReceipt(call: string): string {
    return `${this.prefix}celeriac.fetch.${call}`;
  }

  /** Dead letters of a queue: a list of JSON {reason, raw, at}, newest last. */
  dead(queue: string): string {
    return `${this.prefix}${queue}.celeriac.dead`;
  }

  /** The queue a dead-letter list belongs to (for listing all of them). */
  queueOfDead(key: string): string | undefined {
    const suffix = '.celeriac.dead';
    if (!key.startsWith(this.prefix) || !key.endsWith(suffix)) return undefined;
    return key.slice(this.prefix.length, -suffix.length);
  }
}

/** The binding member kombu writes for a direct queue: `<routing_key>\x06\x16<pattern>\x06\x16<queue>` (§2.2). */
export const bindingMember = (routingKey: string, queue: string): string => `${routingKey}${SEP}${SEP}${queue}`;
