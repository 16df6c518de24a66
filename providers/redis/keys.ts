/**
 * Broker key names. Queue lists, bindings and the unacked structures are kombu 5.2.4's (§2.2), so
 * Python and celeriac workers share them; the dead-letter keys (and the delayed sets of celeriac
 * 0.1) are celeriac's own (kombu has neither) and named so no kombu queue can collide with them.
 */

/** kombu's default separator between a queue name and its priority step, and inside binding members (§2.2). */
export const SEP = '\x06\x16';
/** kombu's default priority_steps: messages are floored to one of these (§2.2). */
export const PRIORITY_STEPS: readonly number[] = [0, 3, 6, 9];

export class BrokerKeys {
  readonly unacked: string;
  readonly unackedIndex: string;
  readonly unackedMutex: string;

  /** `sep` and `prioritySteps` are kombu's transport options of the same names (options.ts checks them). */
  constructor(
    readonly prefix: string,
    readonly sep = SEP,
    readonly prioritySteps: readonly number[] = PRIORITY_STEPS,
  ) {
    this.unacked = `${prefix}unacked`;
    this.unackedIndex = `${prefix}unacked_index`;
    this.unackedMutex = `${prefix}unacked_mutex`;
  }

  /**
   * The step a priority goes to, as kombu's Channel.priority: clamped to 0–9 (a missing one is 0),
   * then the highest step not above it (the steps start at 0, options.ts).
   */
  step(priority: number | undefined): number {
    const p = Math.min(9, Math.max(0, Math.trunc(priority ?? 0) || 0));
    let step = 0;
    for (const s of this.prioritySteps) if (p >= s) step = s;
    return step;
  }

  /** The list a message of this priority goes to: the bare name for step 0, `name<sep><step>` otherwise (kombu `_q_for_pri`). */
  list(queue: string, priority = 0): string {
    const step = this.step(priority);
    return step === 0 ? `${this.prefix}${queue}` : `${this.prefix}${queue}${this.sep}${step}`;
  }

  /** Every list of a queue, in kombu's serving order (lowest step first). */
  lists(queue: string): string[] {
    return this.prioritySteps.map((s) => this.list(queue, s));
  }

  /** The binding member kombu writes for a direct queue: `<routing_key><sep><pattern><sep><queue>` (§2.2). */
  bindingMember(routingKey: string, queue: string): string {
    return `${routingKey}${this.sep}${this.sep}${queue}`;
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
